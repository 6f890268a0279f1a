package bench

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Table is one table of results.
type Table struct {
	Title   string
	Columns []string
	Rows    [][]string
	// Notes are printed under the table, one paragraph each.
	Notes []string
}

// AddRow appends a row; cells are formatted with fmt.Sprint unless they
// are strings already.
func (t *Table) AddRow(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		if s, ok := c.(string); ok {
			row[i] = s
		} else {
			row[i] = fmt.Sprint(c)
		}
	}
	t.Rows = append(t.Rows, row)
}

// Note appends a note.
func (t *Table) Note(format string, args ...any) {
	t.Notes = append(t.Notes, fmt.Sprintf(format, args...))
}

// WriteText prints the table as aligned text: numbers (cells starting
// with a digit, a sign or a dot) right-aligned, the rest left-aligned.
func (t *Table) WriteText(w io.Writer) {
	widths := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	for _, r := range t.Rows {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], utf8.RuneCountInString(c))
			}
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if numeric(c) {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if t.Title != "" {
		fmt.Fprintln(w, t.Title)
		fmt.Fprintln(w, strings.Repeat("=", utf8.RuneCountInString(t.Title)))
	}
	line(t.Columns)
	total := 0
	for _, wd := range widths {
		total += wd
	}
	fmt.Fprintln(w, strings.Repeat("-", total+2*(len(widths)-1)))
	for _, r := range t.Rows {
		line(r)
	}
	for _, n := range t.Notes {
		fmt.Fprintln(w, wrap(n, 78, "  "))
	}
	fmt.Fprintln(w)
}

// WriteMarkdown prints the table as Markdown: a bold title line, a pipe
// table, and the notes as a paragraph list.
func (t *Table) WriteMarkdown(w io.Writer) {
	if t.Title != "" {
		fmt.Fprintf(w, "**%s**\n\n", t.Title)
	}
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	cells := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cells[i] = esc(c)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	seps := make([]string, len(t.Columns))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range t.Rows {
		row := make([]string, len(t.Columns))
		for i := range row {
			if i < len(r) {
				row[i] = esc(r[i])
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	if len(t.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range t.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	fmt.Fprintln(w)
}

// numeric reports whether a cell reads as a number, possibly with a unit
// or a second number ("12.5 ms", "3 / 4"): it starts with a digit, a sign
// or a dot and has at most three words.
func numeric(s string) bool {
	if s == "" || len(strings.Fields(s)) > 3 {
		return false
	}
	switch c := s[0]; {
	case c >= '0' && c <= '9', c == '-' && len(s) > 1, c == '+', c == '.':
		return true
	}
	return false
}

// wrap breaks s into lines of at most width runes, each starting with
// indent.
func wrap(s string, width int, indent string) string {
	var lines []string
	cur := indent
	for _, word := range strings.Fields(s) {
		if utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(word) > width && strings.TrimSpace(cur) != "" {
			lines = append(lines, cur)
			cur = indent
		}
		if strings.TrimSpace(cur) != "" {
			cur += " "
		}
		cur += word
	}
	if strings.TrimSpace(cur) != "" {
		lines = append(lines, cur)
	}
	return strings.Join(lines, "\n")
}
