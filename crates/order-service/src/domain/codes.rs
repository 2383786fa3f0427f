//! ISO codes in orders, checked once when parsed: a [`Currency`] or a [`Country`] past the
//! validation is always well formed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code: 3 uppercase letters, e.g. `EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

/// An ISO 3166-1 alpha-2 country code: 2 uppercase letters, e.g. `GB`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(String);

fn uppercase_letters(text: &str, count: usize) -> bool {
    text.len() == count && text.bytes().all(|b| b.is_ascii_uppercase())
}

impl Currency {
    pub const RULE: &'static str = "must be 3 uppercase letters (ISO 4217)";

    pub fn parse(text: &str) -> Option<Self> {
        uppercase_letters(text, 3).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Country {
    pub const RULE: &'static str = "must be 2 uppercase letters (ISO 3166-1)";

    pub fn parse(text: &str) -> Option<Self> {
        uppercase_letters(text, 2).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_conversions {
    ($code:ident) => {
        impl TryFrom<String> for $code {
            type Error = &'static str;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text).ok_or(Self::RULE)
            }
        }

        impl From<$code> for String {
            fn from(code: $code) -> String {
                code.0
            }
        }

        impl fmt::Display for $code {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_conversions!(Currency);
text_conversions!(Country);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_uppercase_letters_of_their_length() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["eur", "EU", "EURO", "E1R", "ÉUR", ""] {
            assert!(Currency::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(Country::parse("GB").unwrap().to_string(), "GB");
        for bad in ["gb", "G", "GBR", "G8"] {
            assert!(Country::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn stored_json_is_the_plain_code_and_is_checked_when_read() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(serde_json::to_string(&eur).unwrap(), "\"EUR\"");
        assert_eq!(serde_json::from_str::<Currency>("\"EUR\"").unwrap(), eur);
        assert!(serde_json::from_str::<Country>("\"gb\"").is_err());
    }
}
