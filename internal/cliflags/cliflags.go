// Package cliflags prints the flags of the project's commands (the word
// count, its producer and kinesischeckpoints) the way their documentation
// spells them: --name, snake_case, Kinesis connection flags prefixed
// kinesis_ (Beam owns --endpoint and --region in the word count). The flag
// package accepts -name too.
package cliflags

import (
	"flag"
	"fmt"
	"io"
)

// Print writes f to w as flag.PrintDefaults would, spelt --name:
//
//	--name ARG
//	    	usage (default value)
func Print(w io.Writer, f *flag.Flag) {
	arg, text := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if arg != "" {
		line += " " + arg
	}
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
		text += fmt.Sprintf(" (default %v)", f.DefValue)
	}
	fmt.Fprintf(w, "%s\n    \t%s\n", line, text)
}

// PrintAll writes every flag of fs to w with Print, in name order.
func PrintAll(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) { Print(w, f) })
}
