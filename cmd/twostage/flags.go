package main

import (
	"errors"
	"flag"
	"io"
	"strings"
)

// interspersed parses args with fs, accepting flags before, between and
// after the positional arguments (`search "q" --top-n 3` and
// `search --top-n 3 "q"` mean the same). "--" ends the flags: everything
// after it is positional, even when it starts with "-". A lone "-" is
// positional (stdin). Every subcommand parses through it (via parseFlags), so
// the rules are the same for all of them.
//
// Errors are usage errors returned once, for main to print as one line:
// nothing is written to stderr and no usage is dumped, except for -h/-help,
// which prints the flags and returns flag.ErrHelp.
func interspersed(fs *flag.FlagSet, args []string) error {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				return fs.Parse([]string{"-h"}) // prints the flags, returns flag.ErrHelp
			}
			return usageErr("unknown flag %s (see twostage %s -h)", strings.SplitN(a, "=", 2)[0], commandName(fs))
		}
		flags = append(flags, a)
		if hasValue || isBool(f) {
			continue
		}
		if i+1 >= len(args) {
			return usageErr("flag needs an argument: %s", a)
		}
		i++
		flags = append(flags, args[i])
	}
	// Parse the flags alone, quietly: a bad value is reported once by main.
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(append(append(flags, "--"), pos...))
	fs.SetOutput(out)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	return nil
}

// parseFlagsOnly parses args as parseFlags does, for a command that takes
// no positional arguments: any is a usage error naming it (or them).
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return nil
	case 1:
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	return usageErr("unexpected arguments %q", fs.Args())
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// commandName is the subcommand a flag set was made for ("search" for
// "twostage search").
func commandName(fs *flag.FlagSet) string {
	return strings.TrimPrefix(fs.Name(), "twostage ")
}
