// Package cputime reads the process's CPU time, for benchmarks that print
// CPU-time ratios beside wall-clock ones (the CPU time barely moves with
// other processes' load).
package cputime
