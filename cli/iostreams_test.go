package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTerminalDecisions(t *testing.T) {
	tests := []struct {
		name                   string
		in, out, err, ci, noCo bool
		prompt, animate, color bool
	}{
		{name: "a person at a terminal", in: true, out: true, err: true, prompt: true, animate: true, color: true},
		{name: "stdout piped", in: true, out: false, err: true},
		{name: "stdin piped", in: false, out: true, err: true, animate: true, color: true},
		{name: "CI with a pseudo-terminal", in: true, out: true, err: true, ci: true, color: true},
		{name: "NO_COLOR", in: true, out: true, err: true, noCo: true, prompt: true, animate: true},
		{name: "everything piped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _, _ := Test()
			s.SetTTY(tt.in, tt.out, tt.err)
			s.ci, s.noColor = tt.ci, tt.noCo
			assert.Equal(t, tt.prompt, s.CanPrompt(), "prompt")
			assert.Equal(t, tt.animate, s.Animate(), "animate")
			assert.Equal(t, tt.color, s.Color(), "color")
		})
	}
}

func TestConfirm(t *testing.T) {
	s, in, _, errOut := Test()
	assert.NoError(t, confirm(s, true, "Go?"), "-y needs no terminal")
	err := confirm(s, false, "Go?")
	var usage *UsageError
	assert.ErrorAs(t, err, &usage, "no terminal and no -y is a usage error")

	s.SetTTY(true, true, true)
	in.WriteString("y\n")
	assert.NoError(t, confirm(s, false, "Go?"))
	assert.Contains(t, errOut.String(), "Go? [y/N]")
	in.WriteString("\n")
	assert.Error(t, confirm(s, false, "Go?"), "the default is no")
	assert.Contains(t, errOut.String(), "nothing was changed")
}
