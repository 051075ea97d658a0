//! sha256 pins (`sha256=HEX`): the digest a download or a component must have, and the digest
//! computed to compare with one.

use std::fmt;
use std::str::FromStr;

use crate::show::hex;

/// A sha256 digest: written as 64 hexadecimal digits in any case, shown in lower case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Pin([u8; 32]);

impl Sha256Pin {
    /// The pin of a computed digest.
    pub const fn from_digest(digest: [u8; 32]) -> Sha256Pin {
        Sha256Pin(digest)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Sha256Pin {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        const HELP: &str = "expected 64 hexadecimal digits (a sha256, as printed by `sha256sum`)";
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return Err(format!("{HELP}, got {} characters", text.chars().count()));
        }
        if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!("{HELP}; `{bad}` is not one"));
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (nibble(pair[0]) << 4) | nibble(pair[1]);
        }
        Ok(Sha256Pin(digest))
    }
}

/// The value of a hexadecimal digit (checked by the caller).
fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => (digit | 0x20) - b'a' + 10,
    }
}

impl fmt::Display for Sha256Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for Sha256Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Pin({self})")
    }
}

serde_as_text!(Sha256Pin);

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn any_case_is_read_and_shown_in_lower_case() {
        let pin: Sha256Pin = HEX.to_uppercase().parse().unwrap();
        assert_eq!(pin, HEX.parse().unwrap());
        assert_eq!(pin.to_string(), HEX);
        assert_eq!(pin.as_bytes()[..3], [0x01, 0x23, 0x45]);
        assert_eq!(format!("{pin:?}"), format!("Sha256Pin({HEX})"));
    }

    #[test]
    fn a_digest_is_shown_as_its_pin_is_written() {
        let pin = Sha256Pin::from_digest([0xa7; 32]);
        assert_eq!(pin.to_string(), "a7".repeat(32));
        assert_eq!(pin.to_string().parse::<Sha256Pin>(), Ok(pin));
        assert_ne!(pin, Sha256Pin::from_digest([0xa8; 32]));
    }

    #[test]
    fn bad_pins_say_what_to_write() {
        assert_eq!(
            "abc".parse::<Sha256Pin>().unwrap_err(),
            "expected 64 hexadecimal digits (a sha256, as printed by `sha256sum`), got 3 characters"
        );
        let e = format!("{}g", &HEX[1..]).parse::<Sha256Pin>().unwrap_err();
        assert!(e.ends_with("; `g` is not one"), "{e}");
        let e = "é".repeat(32).parse::<Sha256Pin>().unwrap_err();
        assert!(e.ends_with("; `é` is not one"), "{e}");
        for bad in ["", " 0123", &format!("{HEX} "), &format!("sha256:{HEX}")] {
            assert!(bad.parse::<Sha256Pin>().is_err(), "{bad}");
        }
    }
}
