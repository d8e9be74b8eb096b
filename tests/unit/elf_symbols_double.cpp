// A library double for the ELF reader's tests (elf_test.cpp): symbols of
// every kind the reader must tell apart, with versions from
// elf_symbols_double.map.
#include <cstdio>

extern "C" {

// elf_double_answer@ELFDOUBLE_1 (compat, hidden) beside
// elf_double_answer@@ELFDOUBLE_2 (the default a new link binds).
__attribute__((used)) int elf_double_answer_v1() { return 1; }
__attribute__((used)) int elf_double_answer_v2() { return 2; }
__asm__(".symver elf_double_answer_v1, elf_double_answer@ELFDOUBLE_1");
__asm__(".symver elf_double_answer_v2, elf_double_answer@@ELFDOUBLE_2");

// Only a compat version: nothing a new link could bind.
__attribute__((used)) int elf_double_retired_v1() { return 7; }
__asm__(".symver elf_double_retired_v1, elf_double_retired@ELFDOUBLE_1");

int elf_double_plain() { return 3; }
__attribute__((weak)) int elf_double_weak() { return 4; }
int elf_double_data = 5;

// An IFUNC: its address is the resolver's answer, which the reader does not
// compute.
static int elf_double_picked() { return 6; }
int (*elf_double_resolve())() { return elf_double_picked; }
int elf_double_indirect() __attribute__((ifunc("elf_double_resolve")));

// Uses puts without defining it: an undefined symbol in the table.
int elf_double_says(const char* text) { return puts(text); }

}  // extern "C"
