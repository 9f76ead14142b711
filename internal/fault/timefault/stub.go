package timefault

import (
	"encoding/binary"
	"fmt"
	"time"
)

// x86-64 Linux syscall numbers the stubs use (fixed by the ABI, whatever GOARCH this
// file is compiled for).
const (
	sysGettimeofday = 96
	sysTime         = 201
	sysClockGettime = 228
)

// jmpLen is the size of the jump written at a function's entry: E9 rel32. It fits in
// the one 8-byte word that is written, whose last 3 bytes keep the original code.
const (
	jmpLen    = 5
	entryLen  = 8
	stubAlign = 16
)

// offset is a shift split as the kernel's structures hold time: whole seconds (rounded
// toward -inf) and a non-negative nanosecond part below one second.
type offset struct {
	sec  int64
	nsec int64
}

func splitOffset(d time.Duration) offset {
	sec := int64(d / time.Second)
	nsec := int64(d % time.Second)
	if nsec < 0 {
		sec--
		nsec += int64(time.Second)
	}
	return offset{sec: sec, nsec: nsec}
}

// roundedSec is the offset in whole seconds, rounded to the nearest (for time()).
func (o offset) roundedSec() int64 {
	if o.nsec >= int64(time.Second)/2 {
		return o.sec + 1
	}
	return o.sec
}

// asm assembles straight-line x86-64 code with forward rel8 jumps to labels.
type asm struct {
	b      []byte
	labels map[string]int
	fixups map[int]string // position of a rel8 byte -> label
}

func newAsm() *asm { return &asm{labels: map[string]int{}, fixups: map[int]string{}} }

func (a *asm) emit(b ...byte) { a.b = append(a.b, b...) }

func (a *asm) imm32(v uint32) { a.b = binary.LittleEndian.AppendUint32(a.b, v) }

func (a *asm) imm64(v uint64) { a.b = binary.LittleEndian.AppendUint64(a.b, v) }

// jcc emits a short conditional (or unconditional, op 0xEB) jump to label.
func (a *asm) jcc(op byte, label string) {
	a.emit(op, 0)
	a.fixups[len(a.b)-1] = label
}

func (a *asm) label(name string) { a.labels[name] = len(a.b) }

func (a *asm) bytes() []byte {
	for pos, l := range a.fixups {
		rel := a.labels[l] - (pos + 1)
		if rel < -128 || rel > 127 {
			panic(fmt.Sprintf("timefault stub: jump to %s out of rel8 range", l))
		}
		a.b[pos] = byte(int8(rel))
	}
	return a.b
}

// x86-64 opcodes used below.
const (
	opJne = 0x75
	opJe  = 0x74
	opJa  = 0x77
	opJae = 0x73
	opJl  = 0x7c
	opRet = 0xc3
)

// stubClockGettime: clock_gettime(clockid edi, ts rsi) through the syscall; on success,
// and if the clock's bit is in mask, ts += o (nanoseconds normalised). Returns the
// syscall's result, as the vDSO function does (0 or -errno). Clobbers only rax, rcx,
// rdx, r11 (caller-saved).
func stubClockGettime(o offset, mask uint32) []byte {
	a := newAsm()
	a.emit(0xb8)
	a.imm32(sysClockGettime) // mov eax, SYS_clock_gettime
	a.emit(0x0f, 0x05)       // syscall
	a.emit(0x85, 0xc0)       // test eax, eax
	a.jcc(opJne, "ret")      // an error: return it
	a.emit(0x83, 0xff, 0x1f) // cmp edi, 31
	a.jcc(opJa, "ret")       // clock id outside 0..31 (CPU clocks are negative)
	a.emit(0xba)             // mov edx, mask
	a.imm32(mask)            //
	a.emit(0x0f, 0xa3, 0xfa) // bt edx, edi
	a.jcc(opJae, "ret")      // this clock is not shifted
	addTimespec(a, o.sec, uint32(o.nsec), 1_000_000_000, 0x56, 0x0e)
	a.label("ret")
	a.emit(opRet)
	return a.bytes()
}

// stubGettimeofday: gettimeofday(tv rdi, tz rsi) through the syscall; on success and
// with tv != NULL, tv += o (microseconds normalised).
func stubGettimeofday(o offset) []byte {
	a := newAsm()
	a.emit(0xb8)
	a.imm32(sysGettimeofday) // mov eax, SYS_gettimeofday
	a.emit(0x0f, 0x05)       // syscall
	a.emit(0x85, 0xc0)       // test eax, eax
	a.jcc(opJne, "ret")      //
	a.emit(0x48, 0x85, 0xff) // test rdi, rdi
	a.jcc(opJe, "ret")       // tv == NULL
	addTimespec(a, o.sec, uint32(o.nsec/1000), 1_000_000, 0x57, 0x0f)
	a.label("ret")
	a.emit(opRet)
	return a.bytes()
}

// addTimespec emits: rdx = frac + [p+8]; rcx = sec; if rdx >= unit { rdx -= unit; rcx++ };
// [p+8] = rdx; [p] += rcx — where p is rsi (modrm 0x56/0x0e) or rdi (0x57/0x0f).
func addTimespec(a *asm, sec int64, frac, unit uint32, modrmDisp8, modrmRCX byte) {
	a.emit(0xba)
	a.imm32(frac)                        // mov edx, frac
	a.emit(0x48, 0x03, modrmDisp8, 0x08) // add rdx, [p+8]
	a.emit(0x48, 0xb9)                   // mov rcx, sec
	a.imm64(uint64(sec))                 //
	a.emit(0x48, 0x81, 0xfa)             // cmp rdx, unit
	a.imm32(unit)                        //
	a.jcc(opJl, "nocarry")               //
	a.emit(0x48, 0x81, 0xea)             // sub rdx, unit
	a.imm32(unit)                        //
	a.emit(0x48, 0xff, 0xc1)             // inc rcx
	a.label("nocarry")                   //
	a.emit(0x48, 0x89, modrmDisp8, 0x08) // mov [p+8], rdx
	a.emit(0x48, 0x01, modrmRCX)         // add [p], rcx
}

// stubTime: time(tloc rdi) through the syscall with a NULL pointer, adds the offset
// in whole seconds and stores the result in *tloc when tloc != NULL.
func stubTime(o offset) []byte {
	a := newAsm()
	a.emit(0x48, 0x89, 0xfa) // mov rdx, rdi
	a.emit(0x31, 0xff)       // xor edi, edi
	a.emit(0xb8)
	a.imm32(sysTime)                           // mov eax, SYS_time
	a.emit(0x0f, 0x05)                         // syscall
	a.emit(0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff) // cmp rax, -4095
	a.jcc(opJae, "ret")                        // -errno
	a.emit(0x48, 0xb9)                         // mov rcx, sec
	a.imm64(uint64(o.roundedSec()))            //
	a.emit(0x48, 0x01, 0xc8)                   // add rax, rcx
	a.emit(0x48, 0x85, 0xd2)                   // test rdx, rdx
	a.jcc(opJe, "ret")                         //
	a.emit(0x48, 0x89, 0x02)                   // mov [rdx], rax
	a.label("ret")
	a.emit(opRet)
	return a.bytes()
}

// stubFor returns the stub of one vDSO function.
func stubFor(sym string, o offset, mask uint32) []byte {
	switch sym {
	case symClockGettime:
		return stubClockGettime(o, mask)
	case symGettimeofday:
		return stubGettimeofday(o)
	case symTime:
		return stubTime(o)
	}
	panic("timefault: no stub for " + sym)
}

// entryWord is the 8 bytes written at a function's entry: a jmp rel32 to the stub,
// then the original bytes 5..7 (never executed, kept so the word differs from the
// original only where it must).
func entryWord(orig []byte, entry, stub uint64) []byte {
	w := make([]byte, entryLen)
	copy(w, orig[:entryLen])
	w[0] = 0xe9
	binary.LittleEndian.PutUint32(w[1:], uint32(int32(int64(stub)-int64(entry+jmpLen))))
	return w
}

// pad16 rounds n up to the stub alignment.
func pad16(n uint64) uint64 { return (n + stubAlign - 1) &^ (stubAlign - 1) }
