//! Sizes (`max-size=2G`): a positive number of bytes, written with an optional binary suffix.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

/// A positive byte count: `512`, `512B`, `64K`, `2G`, `1GiB`; the suffixes K, M, G, T (or KiB,
/// MiB, GiB, TiB), in any case, are powers of 1024.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(NonZeroU64);

/// The suffixes, largest first, with their power of two.
const SUFFIXES: [(&str, u32); 4] = [("T", 40), ("G", 30), ("M", 20), ("K", 10)];

impl ByteSize {
    /// `None` for 0.
    pub const fn new(bytes: u64) -> Option<ByteSize> {
        match NonZeroU64::new(bytes) {
            Some(n) => Some(ByteSize(n)),
            None => None,
        }
    }

    pub const fn bytes(self) -> u64 {
        self.0.get()
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        const HELP: &str = "expected a whole number of bytes with an optional suffix K, M, G, T (or KiB, MiB, GiB, TiB: powers of 1024), e.g. `2G`";
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, suffix) = text.split_at(split);
        let number: u64 = digits.parse().map_err(|_| HELP.to_owned())?;
        let shift = match suffix.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kib" => 10,
            "m" | "mib" => 20,
            "g" | "gib" => 30,
            "t" | "tib" => 40,
            _ => return Err(HELP.to_owned()),
        };
        let bytes = number
            .checked_mul(1u64 << shift)
            .ok_or_else(|| "too large: a size must fit in 64 bits".to_owned())?;
        ByteSize::new(bytes).ok_or_else(|| {
            "a size of 0 would refuse everything; give a positive size, e.g. `2G`".to_owned()
        })
    }
}

/// The shortest exact spelling: `2G`, `1536K`, `1000`.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes();
        match SUFFIXES
            .iter()
            .find(|(_, shift)| bytes.trailing_zeros() >= *shift)
        {
            Some((suffix, shift)) => write!(f, "{}{suffix}", bytes >> shift),
            None => write!(f, "{bytes}"),
        }
    }
}

serde_as_text!(ByteSize);

#[cfg(test)]
mod tests {
    use super::*;

    fn size(text: &str) -> Result<u64, String> {
        text.parse::<ByteSize>().map(ByteSize::bytes)
    }

    #[test]
    fn suffixes() {
        for (text, bytes) in [
            ("512", 512u64),
            ("512B", 512),
            ("4K", 4096),
            ("4k", 4096),
            ("4KiB", 4096),
            (" 4 kib ", 4096),
            ("3M", 3 << 20),
            ("3MiB", 3 << 20),
            ("2G", 2 << 30),
            ("2GiB", 2 << 30),
            ("1T", 1 << 40),
        ] {
            assert_eq!(size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn bad_sizes_say_what_to_write() {
        for text in [
            "",
            "G",
            "1.5G",
            "2GB",
            "-1",
            "0",
            "0K",
            "99999999999999999999",
            "20000000000G",
        ] {
            let e = size(text).expect_err(text);
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(size("0").unwrap_err().starts_with("a size of 0"));
        assert!(size("20000000000G").unwrap_err().starts_with("too large"));
        assert!(
            size("2GB")
                .unwrap_err()
                .starts_with("expected a whole number")
        );
    }

    #[test]
    fn shown_in_the_largest_exact_unit() {
        for (text, shown) in [
            ("2G", "2G"),
            ("2048M", "2G"),
            ("1536K", "1536K"),
            ("1000", "1000"),
            ("1024", "1K"),
            ("3TiB", "3T"),
        ] {
            let value: ByteSize = text.parse().unwrap();
            assert_eq!(value.to_string(), shown);
            assert_eq!(shown.parse::<ByteSize>(), Ok(value));
        }
        assert_eq!(ByteSize::new(0), None);
        assert_eq!(
            ByteSize::new(u64::MAX).unwrap().to_string(),
            u64::MAX.to_string()
        );
    }
}
