//! What an ELF file says about its linking: static or not, PIE or not.

use std::path::Path;

/// What the ELF header and program headers say about linking.
#[derive(Debug)]
pub struct ElfLinking {
    /// Position independent (ET_DYN).
    pub pie: bool,
    /// Has a program interpreter (PT_INTERP): dynamically linked.
    pub interpreter: bool,
    /// Needs shared libraries (DT_NEEDED).
    pub needs_libraries: bool,
}

impl ElfLinking {
    pub fn is_static(&self) -> bool {
        !self.interpreter && !self.needs_libraries
    }
}

/// Reads the linking facts of a 64-bit little-endian x86-64 ELF file.
pub fn elf_linking(elf: &[u8]) -> Result<ElfLinking, String> {
    let bytes = |o: usize, n: usize| elf.get(o..o + n).ok_or_else(|| "truncated ELF".to_string());
    let u16_at = |o| bytes(o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o| bytes(o, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |o| bytes(o, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    if u16_at(18)? != 62 {
        return Err("not x86-64".into());
    }
    let pie = u16_at(16)? == 3;
    let phoff = u64_at(32)? as usize;
    let phentsize = u16_at(54)? as usize;
    let phnum = u16_at(56)? as usize;
    let mut interpreter = false;
    let mut needs_libraries = false;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match u32_at(ph)? {
            3 => interpreter = true,
            2 => {
                let (offset, size) = (u64_at(ph + 8)? as usize, u64_at(ph + 32)? as usize);
                for entry in (offset..offset + size).step_by(16) {
                    match u64_at(entry)? {
                        0 => break,
                        1 => needs_libraries = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ElfLinking {
        pie,
        interpreter,
        needs_libraries,
    })
}

/// Checks that `elf` is what hookinit ships: a static executable (no program interpreter, no
/// shared library) linked without PIE (.cargo/config.toml: no relocations to apply at start).
pub fn check_static_executable(elf: &[u8]) -> Result<(), String> {
    let linking = elf_linking(elf)?;
    if linking.is_static() && !linking.pie {
        Ok(())
    } else {
        Err(format!("{linking:?}"))
    }
}

pub(super) fn check_static(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let linking = elf_linking(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        linking.is_static(),
        "{} is dynamically linked ({linking:?}); install busybox-static (not busybox)",
        path.display()
    );
}
