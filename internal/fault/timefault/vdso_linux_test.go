package timefault

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

func TestParseOwnVDSO(t *testing.T) {
	img, err := ownVDSO()
	if err != nil {
		t.Skipf("no vDSO here: %v", err)
	}
	v, err := parseVDSO(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, sym := range []string{symClockGettime, symGettimeofday, symTime} {
		fn, ok := v.funcs[sym]
		if !ok || fn.off%8 != 0 || fn.size < 8 {
			t.Errorf("%s: %+v %v", sym, fn, ok)
		}
		if fn.off+fn.size > v.padStart {
			t.Errorf("%s ends at %#x, past the padding start %#x", sym, fn.off+fn.size, v.padStart)
		}
	}
	if !allZero(img[v.padStart:v.padEnd]) || v.padEnd-v.padStart < 256 {
		t.Fatalf("padding %#x-%#x: zero %v", v.padStart, v.padEnd, allZero(img[v.padStart:v.padEnd]))
	}
	t.Logf("vDSO %d bytes, padding %d bytes at +%#x; clock_gettime %d bytes, gettimeofday %d, time %d", len(img),
		v.padEnd-v.padStart, v.padStart, v.funcs[symClockGettime].size, v.funcs[symGettimeofday].size, v.funcs[symTime].size)

	const base = 0x7f0000000000
	syms := []string{symClockGettime, symGettimeofday, symTime}
	l, err := v.plan(img, img, base, syms, splitOffset(time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l.entries {
		target := int64(e.Addr) + 5 + int64(int32(binary.LittleEndian.Uint32(e.New[1:])))
		if e.New[0] != 0xe9 || uint64(target) < l.stub.Addr || uint64(target) >= l.stub.Addr+uint64(len(l.stub.New)) {
			t.Errorf("%s jumps to %#x, outside the stub %#x+%d", e.Symbol, target, l.stub.Addr, len(l.stub.New))
		}
	}
	// A stub left in the padding (a restore that could not clear it) is stepped over.
	patched := append([]byte(nil), img...)
	copy(patched[l.stub.Addr-base:], l.stub.New)
	l2, err := v.plan(patched, img, base, syms, splitOffset(time.Hour), 1)
	if err != nil || l2.stub.Addr < l.stub.Addr+uint64(len(l.stub.New)) {
		t.Errorf("second plan: %v, stub at %#x (first ends at %#x)", err, l2.stub.Addr, l.stub.Addr+uint64(len(l.stub.New)))
	}
	// An entry that is not the kernel's: someone else's patch.
	copy(patched[v.funcs[symTime].off:], l.entries[2].New)
	if _, err := v.plan(patched, img, base, syms, splitOffset(time.Hour), 1); !errors.Is(err, errPatched) {
		t.Errorf("plan over a rewritten entry: %v, want errPatched", err)
	}
	// A 32-bit vDSO.
	img32 := append([]byte(nil), img...)
	img32[4] = 1 // ELFCLASS32
	if _, err := parseVDSO(img32); !errors.Is(err, errNot64) {
		t.Errorf("32-bit vDSO: %v", err)
	}
}

func TestSeccompEval(t *testing.T) {
	calls := stubCalls([]string{symClockGettime, symGettimeofday, symTime})
	prog := func(ins ...bpf.Instruction) []bpf.RawInstruction {
		raw, err := bpf.Assemble(ins)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tests := []struct {
		name   string
		filter []bpf.RawInstruction
		want   string // "" = allows every call
	}{
		{"allow all", prog(bpf.RetConstant{Val: seccompRetAllow}), ""},
		{"log all", prog(bpf.RetConstant{Val: seccompRetLog}), ""},
		{"kill clock_gettime", prog(
			bpf.LoadAbsolute{Off: 0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClockGettime, SkipFalse: 1},
			bpf.RetConstant{Val: 0x80000000},
			bpf.RetConstant{Val: seccompRetAllow}), "KILL_PROCESS to clock_gettime(CLOCK_REALTIME)"},
		{"errno on CLOCK_MONOTONIC (args[0])", prog(
			bpf.LoadAbsolute{Off: 0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClockGettime, SkipFalse: 3},
			bpf.LoadAbsolute{Off: 16, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipFalse: 1},
			bpf.RetConstant{Val: 0x00050001},
			bpf.RetConstant{Val: seccompRetAllow}), "ERRNO to clock_gettime(CLOCK_MONOTONIC)"},
		{"arch check (x86-64 allowed)", prog(
			bpf.LoadAbsolute{Off: 4, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX8664, SkipTrue: 1},
			bpf.RetConstant{Val: 0x80000000},
			bpf.RetConstant{Val: seccompRetAllow}), ""},
		{"kill time", prog(
			bpf.LoadAbsolute{Off: 0, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysTime, SkipFalse: 1},
			bpf.RetConstant{Val: 0},
			bpf.RetConstant{Val: seccompRetAllow}), "KILL_THREAD to time(NULL)"},
	}
	for _, tt := range tests {
		got := evalFilter(tt.filter, calls, 0x7f0000001000)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
