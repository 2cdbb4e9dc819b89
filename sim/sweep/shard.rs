//! Shards: a deterministic split of a sweep's points into N parts that separate processes or
//! machines run independently. Point `p` belongs to shard `p mod N`, so every shard gets a mix
//! of the spec's cheap and expensive corners (a grid's last axis varies fastest), and every row
//! keeps its index in the whole spec.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0-based, as `--shard I/N` and a Slurm array task id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether point `p` is this shard's.
    pub fn holds(self, point: usize) -> bool {
        point % self.count == self.index
    }

    /// This shard's points of a sweep of `total`, in order.
    pub fn points(self, total: usize) -> impl Iterator<Item = usize> {
        (self.index..total).step_by(self.count)
    }

    /// Whether this shard is the whole sweep.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `I/N` with `0 <= I < N`; errors are `--shard` usage errors.
impl FromStr for Shard {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let usage = |reason: String| Error::Usage {
            flag: "--shard".to_owned(),
            reason,
        };
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| usage(format!("`{text}` is not I/N (e.g. 0/4)")))?;
        let parse = |s: &str, what: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| usage(format!("`{text}`: {what} `{s}` is not a whole number")))
        };
        let (index, count) = (parse(i, "shard index")?, parse(n, "shard count")?);
        if count == 0 {
            return Err(usage(format!(
                "`{text}`: the shard count must be at least 1"
            )));
        }
        if index >= count {
            return Err(usage(format!(
                "`{text}`: shards are numbered from 0 to {}, so the index must be below the count",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_points_and_keep_global_indices() {
        let total = 23;
        let mut seen = vec![0; total];
        for index in 0..4 {
            let s = Shard { index, count: 4 };
            for p in s.points(total) {
                assert!(s.holds(p));
                seen[p] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(Shard::WHOLE.points(3).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn parses_i_of_n_and_names_what_is_wrong() {
        assert_eq!(
            "2/5".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 5 }
        );
        assert_eq!("2/5".parse::<Shard>().unwrap().to_string(), "2/5");
        for (text, expected) in [
            ("3", "is not I/N"),
            ("a/4", "shard index `a`"),
            ("0/0", "at least 1"),
            ("4/4", "from 0 to 3"),
        ] {
            let e = text.parse::<Shard>().unwrap_err().to_string();
            assert!(e.starts_with("--shard: ") && e.contains(expected), "{e}");
        }
    }
}
