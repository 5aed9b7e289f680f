//! The one token format of `/sync`, `/messages`, `/context`, `/relations`
//! and `/keys/changes`: `s<stream position>`.

use std::{fmt, str::FromStr};

use crate::{error::Error, storage::StreamPos};

/// A position in the server-wide stream, as clients hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncToken(pub StreamPos);

impl fmt::Display for SyncToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

impl FromStr for SyncToken {
    type Err = Error;

    fn from_str(token: &str) -> Result<Self, Error> {
        token
            .strip_prefix('s')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(|n| Self(StreamPos(n)))
            .ok_or_else(|| Error::invalid_param(format!("Invalid since token `{token}`")))
    }
}

impl From<StreamPos> for SyncToken {
    fn from(position: StreamPos) -> Self {
        Self(position)
    }
}

/// Parses an optional token into the position it names.
pub fn parse_position(token: Option<&str>) -> Result<Option<StreamPos>, Error> {
    token
        .map(|t| t.parse::<SyncToken>().map(|t| t.0))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_as_written() {
        for n in [0, 1, 42, i64::MAX] {
            let token = SyncToken(StreamPos(n));
            assert_eq!(token.to_string(), format!("s{n}"));
            assert_eq!(token.to_string().parse::<SyncToken>().unwrap(), token);
        }
    }

    #[test]
    fn other_shapes_are_invalid_params() {
        for bad in ["", "s", "5", "s-1", "t5", "s5x", "s 5"] {
            let err = bad.parse::<SyncToken>().unwrap_err();
            assert!(
                matches!(&err, Error::Matrix { kind, .. } if *kind == crate::error::ErrorKind::InvalidParam),
                "{bad}: {err}"
            );
        }
    }
}
