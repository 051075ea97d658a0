//! Values an operator writes, parsed once into the types that every user of them shares: the
//! DEBUG grammar, the configuration file, the plugin command line, the sandbox and the fetch
//! service. Each has `FromStr` (with a message for people) and serde through its text.

/// Serde through the text, for every value here.
macro_rules! serde_as_text {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(|e| {
                    serde::de::Error::custom(format!(
                        "bad value `{}`: {e}",
                        crate::show::clip(&text)
                    ))
                })
            }
        }
    };
}

mod duration;
mod grant;
mod sha256;
pub mod show;
mod size;
mod source;

pub use duration::BoundedDuration;
pub use grant::HostGrant;
pub use sha256::Sha256Pin;
pub use size::ByteSize;
pub use source::{HttpUrl, Source, SourceError};
