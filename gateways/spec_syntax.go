package gateways

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// yamlErrLine splits yaml.v3's "yaml: line 3: message" into its parts.
var yamlErrLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserMessages are the errors yaml.v3's parser (not its scanner) reports.
// It numbers their lines from 0 while the scanner's start at 1, and both
// leave the number out on the first line; see parser.fail in yaml.v3.
var parserMessages = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// unplacedMessages start the errors yaml.v3 raises outside its scanner and
// parser; they never carry a line, and line 1 would be a guess.
var unplacedMessages = []string{"unknown anchor", "document contains", "anchor ",
	"attempted", "cannot ", "invalid ", "!!binary", "map merge", "input error"}

// syntaxProblem turns a YAML syntax error into one Problem with the line
// taken from the error text (corrected for yaml.v3's numbering), the column
// when it can be derived, and wording a user can act on.
func syntaxProblem(file string, data []byte, err error) Problem {
	pr := Problem{File: file, Message: "invalid YAML: " + err.Error()}
	m := yamlErrLine.FindStringSubmatch(strings.SplitN(err.Error(), "\n", 2)[0])
	if m == nil {
		return pr
	}
	msg := m[2]
	pr.Message = "invalid YAML: " + msg
	switch {
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters"):
		pr.Line, pr.Col = badByte(data)
		pr.Hint = "save the file as UTF-8 text"
		return pr
	case strings.HasPrefix(msg, "unknown anchor"):
		pr.Line, pr.Col = anchorUse(data, msg)
		pr.Hint = "define the anchor with &name before using it"
		return pr
	}
	positioned := true
	for _, um := range unplacedMessages {
		if strings.HasPrefix(msg, um) {
			positioned = false
		}
	}
	if m[1] != "" {
		pr.Line, _ = strconv.Atoi(m[1])
		for _, pm := range parserMessages {
			if msg == pm {
				pr.Line++
				break
			}
		}
	} else if positioned {
		pr.Line = 1
	}
	if n := lineCount(data); pr.Line > n {
		pr.Line = n // yaml.v3 places errors found at the end of input after the last line
	}
	line := lineText(data, pr.Line)
	switch {
	case strings.Contains(msg, "tab character"), strings.Contains(msg, "cannot start any token") && strings.HasPrefix(strings.TrimLeft(line, " "), "\t"):
		pr.Col = strings.IndexByte(line, '\t') + 1
		pr.Message = "invalid YAML: a tab is used for indentation"
		pr.Hint = "YAML indents with spaces only; replace the tab with spaces"
	case strings.Contains(msg, "unexpected end of stream"):
		if i := strings.IndexAny(line, `"'`); i >= 0 {
			pr.Col = utf8.RuneCountInString(line[:i]) + 1
		}
		pr.Message = "invalid YAML: the file ends inside a quoted string or bracket"
		pr.Hint = "look for an unclosed quote or bracket on or before this line"
	case strings.Contains(msg, "mapping values are not allowed"):
		pr.Hint = "a value containing \": \" must be quoted, and nested keys go on their own indented lines"
	case strings.Contains(msg, "did not find expected key"):
		pr.Hint = "check the indentation of this line against the lines above"
	}
	return pr
}

// lineCount is the number of lines in data, a last line without "\n" included.
func lineCount(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return max(n, 1)
}

// lineText returns line n (1-based) of data, or "".
func lineText(data []byte, n int) string {
	if n < 1 {
		return ""
	}
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

// badByte finds the first byte that is not UTF-8 text YAML accepts, because
// yaml.v3 reports encoding errors without a position.
func badByte(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			if r < 0x20 && r != '\t' && r != '\r' || r == 0x7f {
				return line, col
			}
			col++
		}
		data = data[size:]
	}
	return 0, 0
}

// anchorName pulls the anchor out of "unknown anchor 'x' referenced".
var anchorName = regexp.MustCompile(`^unknown anchor '(.*)' referenced`)

// anchorUse finds the first "*name" in data so an unknown alias gets a place.
func anchorUse(data []byte, msg string) (line, col int) {
	m := anchorName.FindStringSubmatch(msg)
	if m == nil {
		return 0, 0
	}
	i := bytes.Index(data, []byte("*"+m[1]))
	if i < 0 {
		return 0, 0
	}
	before := data[:i]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}
