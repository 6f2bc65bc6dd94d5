package main

import (
	"sort"
	"strings"
)

// upper upper-cases text as Rust's `str::to_uppercase` does: full Unicode
// case mapping (`ß` is `SS`), from upperTable, which
// tests/all/polyglot_upper.rs generates from Rust's own mapping. Go's
// strings.ToUpper maps one character to one.
func upper(text string) string {
	var out strings.Builder
	out.Grow(len(text))
	for _, r := range text {
		i := sort.Search(len(upperTable), func(i int) bool { return upperTable[i][0] >= r })
		if i == len(upperTable) || upperTable[i][0] != r {
			out.WriteRune(r)
			continue
		}
		for _, u := range upperTable[i][1:] {
			if u != 0 {
				out.WriteRune(u)
			}
		}
	}
	return out.String()
}
