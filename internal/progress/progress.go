// Package progress draws a one-line progress bar for long work (indexing,
// conversion, evaluation) on a terminal, and stays quiet elsewhere except
// for a final summary line, so logs and pipes are not flooded.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is a progress bar. It is safe for concurrent use. The zero value is
// not usable; call New.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	unit     string
	total    int64
	done     int64
	start    time.Time
	last     time.Time
	terminal bool
	finished bool
}

// New returns a bar writing to w (usually os.Stderr) for total units of
// work; total <= 0 means unknown. It draws only when w is a terminal.
func New(w io.Writer, label string, total int64, unit string) *Bar {
	return &Bar{w: w, label: label, unit: unit, total: total, start: time.Now(), terminal: IsTerminal(w)}
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Add records n more units done and redraws at most ten times a second.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if b.terminal && time.Since(b.last) >= 100*time.Millisecond {
		b.last = time.Now()
		fmt.Fprint(b.w, "\r\033[K"+b.line())
	}
}

// Set records the units done so far.
func (b *Bar) Set(done int64) {
	b.mu.Lock()
	d := done - b.done
	b.mu.Unlock()
	b.Add(d)
}

// Finish draws the final state and a summary; later calls do nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if b.terminal {
		fmt.Fprint(b.w, "\r\033[K"+b.line()+"\n")
		return
	}
	fmt.Fprintf(b.w, "%s: %d %s in %s (%.0f %s/s)\n", b.label, b.done, b.unit,
		time.Since(b.start).Round(time.Millisecond), b.rate(), b.unit)
}

func (b *Bar) rate() float64 {
	s := time.Since(b.start).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(b.done) / s
}

func (b *Bar) line() string {
	rate := b.rate()
	if b.total <= 0 {
		return fmt.Sprintf("%s %d %s  %.0f %s/s", b.label, b.done, b.unit, rate, b.unit)
	}
	frac := min(float64(b.done)/float64(b.total), 1)
	const width = 30
	filled := int(frac * width)
	eta := ""
	if rate > 0 && b.done < b.total {
		eta = " eta " + time.Duration(float64(b.total-b.done)/rate*float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s [%s%s] %3.0f%% %d/%d %s  %.0f %s/s%s   ", b.label,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100,
		b.done, b.total, b.unit, rate, b.unit, eta)
}
