/* The shim's exported dlsym and dlvsym: jumps only, so that glibc, which
 * resolves RTLD_NEXT and RTLD_DEFAULT relative to its caller's return
 * address, still sees the program's. Contract: dlsym_trampoline.h. */
#if defined(__x86_64__)

#ifdef __CET__
#include <cet.h>
#else
#define _CET_ENDBR
#endif

	.text

/* ENTRY(name, next, driver): handle in %rdi, name in %rsi, (version in
 * %rdx). Explicit handle and a name starting "cu": ask
 * hugeshim_dl_wants_driver_wrap(name), with the argument registers saved
 * (three pushes keep the stack 16-byte aligned at the call). */
.macro ENTRY name, next, driver
	.globl	\name
	.type	\name, @function
	.p2align 4
\name:
	.cfi_startproc
	_CET_ENDBR
	cmpq	$-1, %rdi
	je	1f
	testq	%rdi, %rdi
	je	1f
	testq	%rsi, %rsi
	je	1f
	cmpb	$0x63, (%rsi)		/* 'c' */
	jne	1f
	cmpb	$0x75, 1(%rsi)		/* 'u': name[0] != 0, so name[1] is readable */
	je	2f
1:	jmp	*\next(%rip)
2:	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	pushq	%rsi
	.cfi_adjust_cfa_offset 8
	pushq	%rdx
	.cfi_adjust_cfa_offset 8
	movq	%rsi, %rdi
	call	hugeshim_dl_wants_driver_wrap
	popq	%rdx
	.cfi_adjust_cfa_offset -8
	popq	%rsi
	.cfi_adjust_cfa_offset -8
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	testl	%eax, %eax
	je	1b
	jmp	\driver
	.cfi_endproc
	.size	\name, .-\name
.endm

/* RESOLVING(name, next): the initial value of a next-pointer. Resolves both
 * pointers, then jumps on with the caller's registers and return address. */
.macro RESOLVING name, next
	.globl	\name
	.hidden	\name
	.type	\name, @function
	.p2align 4
\name:
	.cfi_startproc
	_CET_ENDBR
	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	pushq	%rsi
	.cfi_adjust_cfa_offset 8
	pushq	%rdx
	.cfi_adjust_cfa_offset 8
	call	hugeshim_dl_resolve_next
	popq	%rdx
	.cfi_adjust_cfa_offset -8
	popq	%rsi
	.cfi_adjust_cfa_offset -8
	popq	%rdi
	.cfi_adjust_cfa_offset -8
	jmp	*\next(%rip)
	.cfi_endproc
	.size	\name, .-\name
.endm

	ENTRY dlsym, hugeshim_next_dlsym, hugeshim_dlsym_driver
	ENTRY dlvsym, hugeshim_next_dlvsym, hugeshim_dlvsym_driver
	RESOLVING hugeshim_dlsym_resolving, hugeshim_next_dlsym
	RESOLVING hugeshim_dlvsym_resolving, hugeshim_next_dlvsym

#endif

	.section .note.GNU-stack,"",%progbits
