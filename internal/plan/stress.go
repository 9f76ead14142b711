package plan

import (
	"fmt"
	"strconv"
)

// KindStress is the stress fault family: a stressor process charged to the target
// container's cgroup (CPU burn or held memory).
const KindStress = "stress"

// Stress is a stress fault. Exactly one of CPU and Memory is set.
type Stress struct {
	CPU    *CPUStress    `json:"cpu,omitempty"`
	Memory *MemoryStress `json:"memory,omitempty"`
}

// CPUStress burns CPU: Workers threads, each busy Load percent of one CPU.
type CPUStress struct {
	Workers int `json:"workers"`
	// Load is the percentage of one CPU each worker keeps busy, 1-100.
	Load int `json:"load"`
}

// MemoryStress allocates, touches and holds memory, split over Workers threads.
// Exactly one of Bytes and Percent is set.
type MemoryStress struct {
	// Bytes is the total size to hold.
	Bytes uint64 `json:"bytes,omitempty"`
	// Percent is the total size as a percentage of the container's memory limit,
	// (0, 100]; the agent reads the limit from the container's cgroup.
	Percent float64 `json:"percent,omitempty"`
	// Workers share the size; default 1.
	Workers int `json:"workers,omitempty"`
}

// Summary is a short human description, e.g. "cpu 2×50%" or "memory 256Mi".
func (s *Stress) Summary() string {
	switch {
	case s.CPU != nil:
		return fmt.Sprintf("cpu %d×%d%%", s.CPU.Workers, s.CPU.Load)
	case s.Memory != nil:
		return "memory " + s.Memory.SizeText()
	}
	return "(nothing)"
}

// SizeText is the asked size as the user reads it: "256Mi", "1.5Gi", "50% of the limit".
func (m *MemoryStress) SizeText() string {
	if m.Percent > 0 {
		return strconv.FormatFloat(m.Percent, 'g', -1, 64) + "% of the limit"
	}
	return FormatBytes(m.Bytes)
}

// FormatBytes prints a byte count with the largest binary unit that keeps it short:
// 268435456 -> 256Mi, 1610612736 -> 1.5Gi, 1000 -> 1000.
func FormatBytes(b uint64) string {
	units := []string{"Ti", "Gi", "Mi", "Ki"}
	for i, u := range units {
		div := uint64(1) << (10 * (len(units) - i))
		if b >= div {
			v := float64(b) / float64(div)
			return strconv.FormatFloat(float64(int64(v*100+0.5))/100, 'f', -1, 64) + u
		}
	}
	return strconv.FormatUint(b, 10)
}
