// Package report renders a harness.Run: a text table for the terminal,
// Markdown (compare.md), a hand-written SVG chart (compare.svg) and the
// raw JSON (compare.json). Every figure is the median over the
// repetitions; ratios are the system's figure divided by zmp's.
package report
