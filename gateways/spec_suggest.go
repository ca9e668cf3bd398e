package gateways

import (
	"strconv"
	"strings"
)

// suggest returns `did you mean "x"?` for the candidate closest to word, or
// "" when none is close enough to be a likely typo. Matching ignores case.
//
// Close enough means an edit distance (with transpositions) of at most
// maxTypos(len(word)), or word being a prefix of exactly one candidate
// ("cert" → "certificate"). Ties go to the earliest candidate.
func suggest(word string, candidates []string) string {
	if best := closest(word, candidates); best != "" {
		return "did you mean " + strconv.Quote(best) + "?"
	}
	return ""
}

// closest is suggest without the wording.
func closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	if w == "" {
		return ""
	}
	best, bestDist := "", maxTypos(len([]rune(w)))+1
	for _, c := range candidates {
		if c == word {
			continue // an exact match is never "unknown"; nothing to suggest
		}
		if d := editDistance(w, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	if len(w) >= 3 {
		var prefixed []string
		for _, c := range candidates {
			if c != word && strings.HasPrefix(strings.ToLower(c), w) {
				prefixed = append(prefixed, c)
			}
		}
		if len(prefixed) == 1 {
			return prefixed[0]
		}
	}
	return ""
}

// maxTypos is how many edits a word of n characters may be off by and still
// get a suggestion: none but case for very short words (so "az" does not
// become "aws"), one for short words, then about a third of the length.
func maxTypos(n int) int {
	switch {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	default:
		return max(2, n/3)
	}
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent characters each
// count one, so "tpye" is one edit from "type".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice: the swap looks two rows back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
