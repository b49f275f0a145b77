//! Settings that survive a JSON round trip even when they are not finite.
//!
//! JSON has no NaN or infinity, and `serde_json` writes them as `null`, which then cannot be
//! read back as a number (or, inside an `Option`, reads back as `None`). Every `f64` setting
//! of a configuration type is written through this module instead: finite values as numbers,
//! the others as the strings `"NaN"`, `"inf"` and `"-inf"`. A configuration with a NaN budget
//! therefore reads back as itself, and running it names the budget as the fault.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// Writes `value` as a number, or as `"NaN"`, `"inf"` or `"-inf"`.
pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    match *value {
        v if v.is_finite() => serializer.serialize_f64(v),
        v if v.is_nan() => serializer.serialize_str("NaN"),
        v if v > 0.0 => serializer.serialize_str("inf"),
        _ => serializer.serialize_str("-inf"),
    }
}

/// Reads a number, or one of the strings [`serialize`] writes.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(FloatVisitor)
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a number, "NaN", "inf" or "-inf""#)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

/// The same for `Option<f64>`: `None` is `null`.
pub(crate) mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        struct Float(#[serde(with = "super")] f64);
        Ok(Option::<Float>::deserialize(deserializer)?.map(|Float(v)| v))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Setting {
        #[serde(with = "super")]
        value: f64,
        #[serde(with = "super::option", default)]
        limit: Option<f64>,
    }

    fn round_trip(value: f64, limit: Option<f64>) -> (String, Setting) {
        let json = serde_json::to_string(&Setting { value, limit }).unwrap();
        (json.clone(), serde_json::from_str(&json).unwrap())
    }

    #[test]
    fn every_f64_reads_back_as_itself() {
        for value in [0.0, -1.5, 1e-300, f64::MAX, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(round_trip(value, Some(value)).1.value, value);
            assert_eq!(round_trip(value, Some(value)).1.limit, Some(value));
        }
        let (json, nan) = round_trip(f64::NAN, Some(f64::NAN));
        assert_eq!(json, r#"{"value":"NaN","limit":"NaN"}"#);
        assert!(nan.value.is_nan() && nan.limit.unwrap().is_nan());
        assert_eq!(round_trip(1.0, None).1.limit, None);
        assert_eq!(serde_json::from_str::<Setting>(r#"{"value": 3}"#).unwrap().value, 3.0);
    }

    #[test]
    fn other_strings_are_refused_with_what_was_expected() {
        let e = serde_json::from_str::<Setting>(r#"{"value": "nan"}"#).unwrap_err();
        assert!(e.to_string().contains(r#"a number, "NaN", "inf" or "-inf""#), "{e}");
    }
}
