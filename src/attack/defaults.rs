//! Configurations read from JSON with only their threat model required: every field left out
//! takes the value of the attack's published defaults for that threat model.

use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::threat::ThreatModel;

/// The fields of a JSON object with every field it leaves out taken from `defaults`, which
/// gets the object's threat model (required) and the object itself (for a field that selects
/// the defaults, such as a flavour). Unknown fields stay, for the strict reader to refuse.
pub(crate) fn with_defaults<'de, D: Deserializer<'de>>(
    deserializer: D,
    defaults: impl FnOnce(ThreatModel, &Map<String, Value>) -> Value,
) -> Result<Value, D::Error> {
    let Value::Object(given) = Value::deserialize(deserializer)? else {
        return Err(D::Error::custom("expected an object"));
    };
    let threat = given.get("threat").ok_or_else(|| D::Error::missing_field("threat"))?;
    let threat = ThreatModel::deserialize(threat).map_err(D::Error::custom)?;
    let Value::Object(mut merged) = defaults(threat, &given) else {
        unreachable!("the defaults of a configuration are an object")
    };
    merged.extend(given);
    Ok(Value::Object(merged))
}

/// Implements `Serialize` and `Deserialize` for a configuration whose derives are
/// `#[serde(remote = "Self")]`: it writes every field, and reads an object in which only
/// `threat` is required, the other fields defaulting to `$defaults(threat, &fields)`.
macro_rules! serde_with_defaults {
    ($name:ty, $defaults:expr) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$name>::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let merged = $crate::attack::defaults::with_defaults(deserializer, $defaults)?;
                <$name>::deserialize(merged).map_err(<D::Error as serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use serde_with_defaults;
