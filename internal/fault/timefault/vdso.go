package timefault

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// vdsoFunc is one exported function of a vDSO image, by offset from the mapping start.
type vdsoFunc struct {
	off  uint64
	size uint64
}

// vdsoImage is what a patch needs to know about a process's vDSO.
type vdsoImage struct {
	funcs map[string]vdsoFunc // by plain name: clock_gettime, gettimeofday, time
	// padStart..padEnd is the mapping's tail past the ELF file's last byte: mapped
	// executable, never executed, read or referenced by anything.
	padStart, padEnd uint64
}

// errNot64 marks a vDSO that is not the x86-64 one (a 32-bit or x32 process).
var errNot64 = errors.New("the vDSO is not x86-64 ELF64 (32-bit or x32 process)")

// parseVDSO reads a vDSO mapping's bytes.
func parseVDSO(img []byte) (*vdsoImage, error) {
	if len(img) < 64 || !bytes.HasPrefix(img, []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("the [vdso] mapping does not start with an ELF header")
	}
	if elf.Class(img[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(img[elf.EI_DATA]) != elf.ELFDATA2LSB ||
		elf.Machine(binary.LittleEndian.Uint16(img[18:])) != elf.EM_X86_64 {
		return nil, errNot64
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("parsing the vDSO: %w", err)
	}
	// The mapping starts at the PT_LOAD segment that covers file offset 0.
	var bias uint64
	found := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off == 0 {
			bias, found = p.Vaddr, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("the vDSO has no PT_LOAD segment at offset 0")
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("reading the vDSO's symbols: %w", err)
	}
	v := &vdsoImage{funcs: map[string]vdsoFunc{}}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value < bias {
			continue
		}
		name := s.Name
		if len(name) > 7 && name[:7] == "__vdso_" {
			name = name[7:]
		}
		switch name {
		case symClockGettime, symGettimeofday, symTime:
			v.funcs[name] = vdsoFunc{off: s.Value - bias, size: s.Size}
		}
	}
	end := elfEnd(f, img)
	v.padStart, v.padEnd = pad16(end), uint64(len(img))
	if v.padStart > v.padEnd {
		v.padStart = v.padEnd
	}
	return v, nil
}

// elfEnd is the end of everything the ELF file holds: headers, segments, sections and
// the section header table.
func elfEnd(f *elf.File, img []byte) uint64 {
	end := uint64(64)
	for _, p := range f.Progs {
		end = max(end, p.Off+p.Filesz)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			end = max(end, s.Offset+s.Size)
		}
	}
	shoff := binary.LittleEndian.Uint64(img[0x28:])
	shentsize := uint64(binary.LittleEndian.Uint16(img[0x3a:]))
	shnum := uint64(binary.LittleEndian.Uint16(img[0x3c:]))
	end = max(end, shoff+shentsize*shnum)
	phoff := binary.LittleEndian.Uint64(img[0x20:])
	phentsize := uint64(binary.LittleEndian.Uint16(img[0x36:]))
	phnum := uint64(binary.LittleEndian.Uint16(img[0x38:]))
	return max(end, phoff+phentsize*phnum)
}

// layout is the patch of one process's vDSO: where each stub goes and what each entry
// word becomes. Addresses are absolute (mapping base + offset).
type layout struct {
	entries []wordPatch
	stub    region
}

// wordPatch is one function entry: 8 bytes, written in one ptrace poke.
type wordPatch struct {
	Symbol string `json:"symbol"`
	Addr   uint64 `json:"addr"`
	Orig   []byte `json:"orig"`
	New    []byte `json:"new"`
}

// region is the stubs' place in the vDSO padding.
type region struct {
	Addr uint64 `json:"addr"`
	Orig []byte `json:"orig"`
	New  []byte `json:"new"`
}

// errPatched: a function's entry differs from the kernel's own vDSO: another time
// fault, or another tool, rewrote it.
var errPatched = errors.New("its vDSO clock code is already rewritten (another time fault, or another tool)")

// plan lays out the stubs of syms in the padding of the vDSO image img mapped at base.
// ref is the kernel's pristine image (the agent's own vDSO: every 64-bit process on a
// kernel maps the same one): each entry must still hold the original bytes, and the
// stubs go to the first stretch of padding that is still untouched (a restore leaves
// a stub in place when a thread might still return into it; it is never reached again).
func (v *vdsoImage) plan(img, ref []byte, base uint64, syms []string, o offset, mask uint32) (*layout, error) {
	if len(img) != len(ref) {
		return nil, fmt.Errorf("its vDSO is %d bytes, the kernel's is %d", len(img), len(ref))
	}
	l := &layout{}
	var code []byte
	var stubOff []uint64
	for _, sym := range syms {
		fn, ok := v.funcs[sym]
		if !ok {
			return nil, fmt.Errorf("the vDSO exports no %s", sym)
		}
		if fn.off%entryLen != 0 || fn.size < entryLen || fn.off+entryLen > uint64(len(img)) {
			return nil, fmt.Errorf("vDSO %s at +%#x (%d bytes) is not an 8-byte aligned function of 8 bytes or more", sym, fn.off, fn.size)
		}
		if !bytes.Equal(img[fn.off:fn.off+entryLen], ref[fn.off:fn.off+entryLen]) {
			return nil, errPatched
		}
		code = append(code, int3s(pad16(uint64(len(code)))-uint64(len(code)))...)
		stubOff = append(stubOff, uint64(len(code)))
		code = append(code, stubFor(sym, o, mask)...)
	}
	// Whole words, so the stub is written with aligned 8-byte pokes.
	n := (uint64(len(code)) + 7) &^ 7
	at, ok := v.freeWindow(img, ref, n)
	if !ok {
		return nil, fmt.Errorf("the vDSO has no %d untouched bytes left in its %d bytes of padding", n, v.padEnd-v.padStart)
	}
	for i, sym := range syms {
		fn := v.funcs[sym]
		orig := append([]byte(nil), img[fn.off:fn.off+entryLen]...)
		l.entries = append(l.entries, wordPatch{Symbol: sym, Addr: base + fn.off, Orig: orig,
			New: entryWord(orig, base+fn.off, base+at+stubOff[i])})
	}
	l.stub = region{Addr: base + at, Orig: append([]byte(nil), img[at:at+n]...),
		New: append(code, int3s(n-uint64(len(code)))...)}
	return l, nil
}

// freeWindow finds n bytes of padding (16-aligned) that hold the kernel's bytes.
func (v *vdsoImage) freeWindow(img, ref []byte, n uint64) (uint64, bool) {
	for at := v.padStart; at+n <= v.padEnd; at += stubAlign {
		if bytes.Equal(img[at:at+n], ref[at:at+n]) && allZero(ref[at:at+n]) {
			return at, true
		}
	}
	return 0, false
}
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// int3s is filler between and after stubs: never reached, and a trap if it were.
func int3s(n uint64) []byte { return bytes.Repeat([]byte{0xcc}, int(n)) }
