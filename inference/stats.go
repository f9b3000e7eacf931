package inference

import (
	"time"

	"twostage/internal/batcher"
)

// Stats counts what a model has done since it was loaded, across every
// handle on it. Front ends return it as it is (rerank.Engine.Stats,
// embed.ONNX.Stats), and the server's /metrics reads it through
// interface{ Stats() inference.Stats }.
type Stats struct {
	// Calls is the number of Run and Stream calls that queued work.
	Calls int64
	// Batches and Items (inputs: query-document pairs, texts) run.
	Batches, Items int64
	// RealTokens is the tokens of the inputs run; PaddedTokens the tokens
	// computed, padding included (length padding within a batch, and the
	// rows and columns a backend's shape buckets add). Fill is their
	// ratio.
	RealTokens, PaddedTokens int64
	// PrefixTokens is the tokens of the shared prefixes of the batches,
	// each distinct prefix counted once per batch that continues it (see
	// Input.Prefix; the ONNX Runtime and XLA executors keep the latest
	// prefixes' keys and values and run a prefix again only when they are
	// gone);
	// the continuing inputs' RealTokens and PaddedTokens count only their
	// tokens after the prefix.
	PrefixTokens int64
	// Prefixes counts the shared prefixes run (each distinct non-empty
	// prefix once per batch, as PrefixTokens counts their tokens),
	// PrefixItems the inputs that continued one, and SavedTokens the
	// prefix tokens those inputs did not run again: their prefixes'
	// lengths summed, less PrefixTokens. Run whole, the inputs would have
	// cost RealTokens + PrefixTokens + SavedTokens real tokens.
	Prefixes, PrefixItems, SavedTokens int64
	// Queued is the inputs waiting for a batch now (bounded by MaxQueue).
	Queued int64
	// QueueWait is the time inputs waited for a batch, summed over inputs.
	QueueWait time.Duration
	// PrepareTime is the time spent padding batches and RunTime the time
	// in the backend, summed over batches.
	PrepareTime, RunTime time.Duration
	// Overloaded counts inputs refused with errdefs.ErrOverloaded;
	// Cancelled queued inputs dropped by cancelled calls.
	Overloaded, Cancelled int64
}

// Fill is the padding efficiency: real tokens over computed tokens (1 when
// nothing ran).
func (s Stats) Fill() float64 {
	return batcher.Stats{Tokens: s.RealTokens, PaddedTokens: s.PaddedTokens}.Fill()
}
