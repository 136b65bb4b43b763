//! Compiles a [`DeviceState`] into a `BPF_PROG_TYPE_CGROUP_DEVICE` program, in the shape of runc's
//! `devicefilter` (one block per exception, first match decides, default at the end).
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }` in r1,
//! where `access_type = access << 16 | type`. Comparisons use 32-bit jumps (JMP32) so every u32
//! major/minor compares correctly. Exception semantics follow the v1 kernel:
//! - deny-all mode: an exception allows a request whose access bits are a subset of its own;
//! - allow-all mode: an exception denies a request that shares any access bit with it.

use berth_sys::bpf::{Insn, DEVCG_DEV_BLOCK, DEVCG_DEV_CHAR};

use super::emulator::DeviceState;
use super::{Kind, ACC_ALL};

// Opcodes (class | op | source) from linux/bpf_common.h and linux/bpf.h.
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP32_JNE_K: u8 = 0x56;
const JMP32_JNE_X: u8 = 0x5e;
const JMP32_JEQ_K: u8 = 0x16;
const EXIT: u8 = 0x95;

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// The program for `state`.
pub(crate) fn compile(state: &DeviceState) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(LDX_W, R2, R1, 0, 0),
        Insn::new(ALU32_AND_K, R2, 0, 0, 0xffff), // r2 = type
        Insn::new(LDX_W, R3, R1, 0, 0),
        Insn::new(ALU32_RSH_K, R3, 0, 0, 16), // r3 = access
        Insn::new(LDX_W, R4, R1, 4, 0),       // r4 = major
        Insn::new(LDX_W, R5, R1, 8, 0),       // r5 = minor
    ];
    let verdict_on_match = i32::from(!state.default_allow);
    for (key, access) in &state.exceptions {
        // Each conditional jump skips to the end of this block; `None` marks "fix up later".
        let mut block: Vec<(Insn, bool)> = Vec::new();
        let ty = match key.kind {
            Kind::Block => DEVCG_DEV_BLOCK,
            Kind::Char => DEVCG_DEV_CHAR,
        };
        block.push((Insn::new(JMP32_JNE_K, R2, 0, 0, ty), true));
        if *access != ACC_ALL || state.default_allow {
            block.push((Insn::new(ALU32_MOV_X, R1, R3, 0, 0), false));
            block.push((Insn::new(ALU32_AND_K, R1, 0, 0, i32::from(*access)), false));
            if state.default_allow {
                // Deny if (access & rule) != 0.
                block.push((Insn::new(JMP32_JEQ_K, R1, 0, 0, 0), true));
            } else {
                // Allow only if (access & rule) == access.
                block.push((Insn::new(JMP32_JNE_X, R1, R3, 0, 0), true));
            }
        }
        if let Some(major) = key.major {
            block.push((Insn::new(JMP32_JNE_K, R4, 0, 0, major as i32), true));
        }
        if let Some(minor) = key.minor {
            block.push((Insn::new(JMP32_JNE_K, R5, 0, 0, minor as i32), true));
        }
        block.push((Insn::new(ALU64_MOV_K, R0, 0, 0, verdict_on_match), false));
        block.push((Insn::new(EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        for (i, (mut insn, jumps)) in block.into_iter().enumerate() {
            if jumps {
                insn.off = (len - i - 1) as i16;
            }
            p.push(insn);
        }
    }
    p.push(Insn::new(
        ALU64_MOV_K,
        R0,
        0,
        0,
        i32::from(state.default_allow),
    ));
    p.push(Insn::new(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::super::{Key, ACC_READ, ACC_WRITE};
    use super::*;

    /// A tiny interpreter for exactly the instructions `compile` emits, to check the logic
    /// without a kernel.
    fn run(p: &[Insn], ty: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access << 16 | ty, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            let jump = |cond: bool, pc: &mut usize| {
                if cond {
                    *pc = (*pc as i64 + i64::from(i.off)) as usize;
                }
            };
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                ALU32_AND_K => r[dst] = u64::from(r[dst] as u32 & i.imm as u32),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                ALU64_MOV_K => r[dst] = i64::from(i.imm) as u64,
                JMP32_JNE_K => jump(r[dst] as u32 != i.imm as u32, &mut pc),
                JMP32_JNE_X => jump(r[dst] as u32 != r[src] as u32, &mut pc),
                JMP32_JEQ_K => jump(r[dst] as u32 == i.imm as u32, &mut pc),
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const C: u32 = DEVCG_DEV_CHAR as u32;
    const B: u32 = DEVCG_DEV_BLOCK as u32;
    const R: u32 = ACC_READ as u32;
    const W: u32 = ACC_WRITE as u32;

    #[test]
    fn whitelist_program() {
        let st = DeviceState {
            default_allow: false,
            exceptions: vec![
                (
                    Key {
                        kind: Kind::Char,
                        major: Some(1),
                        minor: Some(3),
                    },
                    ACC_ALL,
                ),
                (
                    Key {
                        kind: Kind::Char,
                        major: Some(1),
                        minor: Some(5),
                    },
                    ACC_READ,
                ),
                (
                    Key {
                        kind: Kind::Block,
                        major: None,
                        minor: None,
                    },
                    super::super::ACC_MKNOD,
                ),
                (
                    Key {
                        kind: Kind::Char,
                        major: Some(u32::MAX),
                        minor: None,
                    },
                    ACC_READ,
                ),
            ],
        };
        let p = compile(&st);
        assert_eq!(run(&p, C, R | W, 1, 3), 1);
        assert_eq!(run(&p, C, R, 1, 5), 1);
        assert_eq!(run(&p, C, R | W, 1, 5), 0);
        assert_eq!(run(&p, C, R, 1, 4), 0);
        assert_eq!(run(&p, B, 1, 8, 0), 1);
        assert_eq!(run(&p, B, R, 8, 0), 0);
        assert_eq!(run(&p, C, R, u32::MAX, 7), 1);
        assert_eq!(run(&p, C, R, i32::MAX as u32, 7), 0);
    }

    #[test]
    fn blacklist_program() {
        let st = DeviceState {
            default_allow: true,
            exceptions: vec![(
                Key {
                    kind: Kind::Char,
                    major: Some(1),
                    minor: Some(5),
                },
                ACC_WRITE,
            )],
        };
        let p = compile(&st);
        assert_eq!(run(&p, C, R, 1, 5), 1);
        assert_eq!(run(&p, C, R | W, 1, 5), 0);
        assert_eq!(run(&p, C, W, 1, 3), 1);
        assert_eq!(run(&p, B, W, 1, 5), 1);
    }
}
