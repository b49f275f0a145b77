//! The leave-one-out splits of EfficientNet-Lite0/1/2 that the ImageNet programs run.

use std::fmt;
use std::str::FromStr;

/// Which leave-one-out splits of the three EfficientNet-Lite models a program runs: each split
/// attacks with two of them and judges on the third.
///
/// ```
/// use common_weakness_bench::splits::LiteSplits;
///
/// let splits: LiteSplits = "others".parse().unwrap();
/// assert_eq!(splits.held_out(), &[1, 0]); // Lite1 held out, then Lite0
/// assert_eq!(LiteSplits::All.held_out(), &[2, 1, 0]);
/// assert_eq!("lite0".parse::<LiteSplits>().unwrap().held_out(), &[0]); // one split alone
/// assert!("lite3".parse::<LiteSplits>().unwrap_err().contains("main, others, all, lite0, lite1 or lite2"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiteSplits {
    /// Lite0 + Lite1 attack, Lite2 judges.
    Main,
    /// The two splits besides the main one: Lite1 held out, then Lite0.
    Others,
    /// All three: Lite2, Lite1 and Lite0 held out.
    All,
    /// Lite0 held out alone.
    Lite0,
    /// Lite1 held out alone.
    Lite1,
    /// Lite2 held out alone (the same split as `Main`).
    Lite2,
}

impl LiteSplits {
    /// The held-out model of each split, as an index into `LiteVariant::ALL`, in run order.
    pub fn held_out(self) -> &'static [usize] {
        match self {
            Self::Main => &[2],
            Self::Others => &[1, 0],
            Self::All => &[2, 1, 0],
            Self::Lite0 => &[0],
            Self::Lite1 => &[1],
            Self::Lite2 => &[2],
        }
    }
}

impl FromStr for LiteSplits {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "main" => Ok(Self::Main),
            "others" => Ok(Self::Others),
            "all" => Ok(Self::All),
            "lite0" => Ok(Self::Lite0),
            "lite1" => Ok(Self::Lite1),
            "lite2" => Ok(Self::Lite2),
            other => Err(format!("unknown splits `{other}`: main, others, all, lite0, lite1 or lite2")),
        }
    }
}

impl fmt::Display for LiteSplits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Main => "main",
            Self::Others => "others",
            Self::All => "all",
            Self::Lite0 => "lite0",
            Self::Lite1 => "lite1",
            Self::Lite2 => "lite2",
        })
    }
}
