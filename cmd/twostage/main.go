// Command twostage is the command line of the twostage retrieve-and-rerank
// toolkit: demo, index, search, rerank, embed, tokenize, convert, pull,
// check, info, serve, eval, bench and version. Run `twostage help` for the
// list.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error. Errors go to
// stderr as one line. A usage error is a mistake in what was typed, found
// before any work (usageHelp says it to users).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// errUsage marks errors in how the command was called (exit code 2).
var errUsage = errors.New("usage")

// usageErr returns an error wrapping errUsage.
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errUsage)
}

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand; files call it from init.
func register(name, summary string, run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("twostage: command registered twice: " + name)
	}
	commands[name] = command{summary, run}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "twostage: unknown command %q (see twostage help)\n", args[0])
		return 2
	}
	err := cmd.run(ctx, args[1:], stdin, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, errLine(args[0], err))
		return 2
	default:
		fmt.Fprintln(stderr, errLine(args[0], err))
		return 1
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "twostage: retrieve with a vector store, rerank with a cross-encoder.")
	fmt.Fprintln(w, "\nUsage: twostage COMMAND [flags]   (twostage COMMAND -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	printSpecs(w)
	fmt.Fprintln(w, "\n"+usageHelp)
}

// usageHelp is the exit-code rule, as `twostage help` prints it.
const usageHelp = `Exit codes: 0 success; 2 a mistake in what was typed, found before any work (a bad flag or spec,
flags that contradict each other or the store or reranker they name); 1 any other failure (a missing
model or store, a service down, bad input data).`

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("twostage "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, flags anywhere on the line (see interspersed),
// turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	return interspersed(fs, args)
}
