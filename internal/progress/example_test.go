package progress_test

import (
	"bytes"
	"fmt"
	"strings"

	"twostage/internal/progress"
)

// A command makes a bar over its work, adds to it as units finish, and
// finishes it once. On a terminal it redraws one line; written anywhere
// else (a log, a pipe, this buffer) it stays quiet until Finish prints one
// summary line with the elapsed time and the rate.
func Example() {
	var log bytes.Buffer
	bar := progress.New(&log, "indexing", 3, "docs")
	for range 3 {
		bar.Add(1)
	}
	fmt.Printf("before Finish: %q\n", log.String())
	bar.Finish()
	// The summary goes on with " in <elapsed> (<rate> docs/s)", which varies.
	summary, _, _ := strings.Cut(log.String(), " in ")
	fmt.Println(summary)
	fmt.Println("terminal:", progress.IsTerminal(&log))
	// Output:
	// before Finish: ""
	// indexing: 3 docs
	// terminal: false
}
