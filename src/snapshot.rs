//! Snapshots of run state (optimizer states, estimator memories, random streams) for
//! checkpoints that resume bit for bit.
//!
//! A [`Snapshot`] turns a value into a [`Saved`] tree of tensors and numbers and back. f32
//! values survive JSON exactly (serde_json writes the shortest decimal that reads back to the
//! same f32), so a resumed run continues from the very same bits.
//!
//! Tensors, integers, options, vectors and tuples are snapshots already; a struct of them
//! becomes one with [`snapshot_fields!`](crate::snapshot_fields), which saves each field under
//! its name (so reordering fields changes nothing, and a missing field is named):
//!
//! ```
//! use burn::tensor::Tensor;
//! use common_weakness::gradient::EstimatorState;
//! use common_weakness::snapshot::{Saved, Snapshot};
//!
//! struct MyState {
//!     momentum: Tensor<4>,
//!     steps: i32,
//!     memory: EstimatorState,
//! }
//! common_weakness::snapshot_fields!(MyState { momentum, steps, memory });
//!
//! let device = Default::default();
//! let state = MyState { momentum: Tensor::ones([1, 1, 2, 2], &device), steps: 3, memory: Default::default() };
//! let back = MyState::load(&state.save(), &device).unwrap();
//! assert_eq!(back.steps, 3);
//! assert_eq!(back.momentum.into_data(), state.momentum.into_data());
//! ```
//!
//! ```
//! use burn::tensor::Tensor;
//! use common_weakness::optim::{Adam, Optimizer};
//! use common_weakness::snapshot::{Saved, Snapshot};
//!
//! let device = Default::default();
//! let adam = Adam::new(0.01);
//! let mut state = adam.init(&Tensor::<4>::zeros([1, 1, 2, 2], &device));
//! adam.step(Tensor::ones([1, 1, 2, 2], &device), &mut state);
//! let json = serde_json::to_string(&state.save()).unwrap();
//! let back = Snapshot::load(&serde_json::from_str::<Saved>(&json).unwrap(), &device).unwrap();
//! // The restored state takes the same next step.
//! let (mut a, mut b) = (state, back);
//! let g = Tensor::<4>::from_floats([[[[0.3, -0.2], [1.0, 0.0]]]], &device);
//! assert_eq!(adam.step(g.clone(), &mut a).into_data(), adam.step(g, &mut b).into_data());
//! ```

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A saved value: a tree of tensors, integers and bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Saved {
    /// A tensor's shape and values (row-major).
    Tensor {
        /// The shape.
        shape: Vec<usize>,
        /// The values.
        values: Vec<f32>,
    },
    /// An integer.
    Integer(i64),
    /// Raw bytes (a random stream's key and position).
    Bytes(Vec<u8>),
    /// A sequence of saved values (a list, a tuple, an option: empty or one).
    List(Vec<Saved>),
    /// A struct's fields by name ([`snapshot_fields!`](crate::snapshot_fields)).
    Fields(BTreeMap<String, Saved>),
    /// One variant of an enum, by name, and its value.
    Variant(String, Box<Saved>),
}

/// A value that a checkpoint saves and restores exactly.
pub trait Snapshot: Sized {
    /// The value as a [`Saved`] tree.
    fn save(&self) -> Saved;

    /// The value back from `saved`, its tensors on `device`; [`Error::InvalidCheckpoint`]
    /// when `saved` does not have the shape of this type.
    fn load(saved: &Saved, device: &Device) -> Result<Self>;
}

/// The error of a saved tree that does not fit the type read from it.
pub(crate) fn mismatch(expected: &str) -> Error {
    Error::InvalidCheckpoint(format!("the saved state does not fit: expected {expected}"))
}

impl Saved {
    /// The fields of a saved struct that has exactly the fields `names`; an
    /// [`Error::InvalidCheckpoint`] names the first missing or unexpected one.
    pub fn fields_named(&self, names: &[&str]) -> Result<&BTreeMap<String, Saved>> {
        let Saved::Fields(fields) = self else { return Err(mismatch("a struct's fields")) };
        if let Some(missing) = names.iter().find(|name| !fields.contains_key(**name)) {
            return Err(mismatch(&format!("a field `{missing}`")));
        }
        match fields.keys().find(|key| !names.contains(&key.as_str())) {
            Some(unexpected) => Err(mismatch(&format!("no field `{unexpected}`"))),
            None => Ok(fields),
        }
    }

    /// Checks a restored tree against `fresh`, the tree of a freshly initialised value of the
    /// same run: the same structure, the same tensor shapes, finite values. A part `fresh`
    /// does not have yet (an option still empty, filled during a run) may hold tensors of the
    /// `iterate`'s shape only. `path` names the part in the [`Error::InvalidCheckpoint`].
    pub(crate) fn check_like(&self, fresh: &Saved, iterate: &[usize], path: &str) -> Result<()> {
        let wrong = |what: String| Err(Error::InvalidCheckpoint(format!("checkpoint field `{path}`: {what}")));
        match (self, fresh) {
            (Saved::Tensor { shape, values }, Saved::Tensor { shape: expected, .. }) => {
                if shape != expected {
                    return wrong(format!("shape {shape:?}, the run needs {expected:?}"));
                }
                match values.iter().all(|v| v.is_finite()) {
                    true => Ok(()),
                    false => wrong("holds a NaN or an infinity".into()),
                }
            }
            (Saved::Integer(_), Saved::Integer(_)) | (Saved::Bytes(_), Saved::Bytes(_)) => Ok(()),
            (Saved::List(items), Saved::List(expected)) if items.len() == expected.len() => items
                .iter()
                .zip(expected)
                .enumerate()
                .try_for_each(|(i, (item, fresh))| item.check_like(fresh, iterate, &format!("{path}[{i}]"))),
            (Saved::List(items), Saved::List(expected)) if expected.is_empty() => {
                let like = Saved::Tensor { shape: iterate.to_vec(), values: Vec::new() };
                items.iter().enumerate().try_for_each(|(i, item)| item.check_filled(&like, &format!("{path}[{i}]")))
            }
            (Saved::List(items), Saved::List(expected)) => {
                wrong(format!("{} items, the run needs {}", items.len(), expected.len()))
            }
            (Saved::Fields(_), Saved::Fields(expected)) => {
                let names: Vec<&str> = expected.keys().map(String::as_str).collect();
                let Ok(fields) = self.fields_named(&names) else {
                    return wrong(format!("fields other than {names:?}"));
                };
                fields
                    .iter()
                    .try_for_each(|(name, field)| field.check_like(&expected[name], iterate, &format!("{path}.{name}")))
            }
            (Saved::Variant(name, value), Saved::Variant(expected, fresh)) if name == expected => {
                value.check_like(fresh, iterate, &format!("{path}.{name}"))
            }
            _ => wrong("not what the run's attack saves".into()),
        }
    }

    /// [`check_like`](Self::check_like) for a part filled during a run: every tensor in it
    /// must be shaped like `like`.
    fn check_filled(&self, like: &Saved, path: &str) -> Result<()> {
        match self {
            Saved::Tensor { .. } => self.check_like(like, &[], path),
            Saved::List(items) => {
                items.iter().enumerate().try_for_each(|(i, item)| item.check_filled(like, &format!("{path}[{i}]")))
            }
            Saved::Fields(fields) => {
                fields.iter().try_for_each(|(name, field)| field.check_filled(like, &format!("{path}.{name}")))
            }
            Saved::Variant(name, value) => value.check_filled(like, &format!("{path}.{name}")),
            Saved::Integer(_) | Saved::Bytes(_) => Ok(()),
        }
    }

    /// A saved enum's variant name and value.
    pub(crate) fn variant(&self) -> Result<(&str, &Saved)> {
        match self {
            Saved::Variant(name, value) => Ok((name, value)),
            _ => Err(mismatch("an enum variant")),
        }
    }

    /// The `N` items of a saved list (a tuple's fields).
    pub(crate) fn fields<const N: usize>(&self) -> Result<&[Saved; N]> {
        match self {
            Saved::List(items) => items.as_slice().try_into().map_err(|_| mismatch(&format!("{N} fields"))),
            _ => Err(mismatch(&format!("{N} fields"))),
        }
    }
}

impl Snapshot for () {
    fn save(&self) -> Saved {
        Saved::List(Vec::new())
    }

    fn load(saved: &Saved, _device: &Device) -> Result<Self> {
        saved.fields::<0>().map(|_| ())
    }
}

/// Tuples save as lists of their fields, so a state made of a few tensors needs no impl.
macro_rules! tuple_snapshot {
    ($n:literal: $($t:ident $v:ident),+) => {
        impl<$($t: Snapshot),+> Snapshot for ($($t,)+) {
            fn save(&self) -> Saved {
                let ($($v,)+) = self;
                Saved::List(vec![$($v.save()),+])
            }

            fn load(saved: &Saved, device: &Device) -> Result<Self> {
                let [$($v),+] = saved.fields::<$n>()?;
                Ok(($($t::load($v, device)?,)+))
            }
        }
    };
}

tuple_snapshot!(2: A a, B b);
tuple_snapshot!(3: A a, B b, C c);
tuple_snapshot!(4: A a, B b, C c, D4 d);

impl<const D: usize> Snapshot for Tensor<D> {
    fn save(&self) -> Saved {
        Saved::Tensor { shape: self.dims().to_vec(), values: crate::host::to_vec(self.clone()) }
    }

    fn load(saved: &Saved, device: &Device) -> Result<Self> {
        match saved {
            Saved::Tensor { shape, values } if shape.len() == D && shape.iter().product::<usize>() == values.len() => {
                Ok(Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device))
            }
            _ => Err(mismatch(&format!("a tensor of rank {D}"))),
        }
    }
}

impl Snapshot for i32 {
    fn save(&self) -> Saved {
        Saved::Integer((*self).into())
    }

    fn load(saved: &Saved, _device: &Device) -> Result<Self> {
        match saved {
            Saved::Integer(value) => i32::try_from(*value).map_err(|_| mismatch("a 32-bit integer")),
            _ => Err(mismatch("an integer")),
        }
    }
}

impl<T: Snapshot> Snapshot for Option<T> {
    fn save(&self) -> Saved {
        Saved::List(self.iter().map(Snapshot::save).collect())
    }

    fn load(saved: &Saved, device: &Device) -> Result<Self> {
        match saved {
            Saved::List(items) if items.is_empty() => Ok(None),
            Saved::List(items) if items.len() == 1 => T::load(&items[0], device).map(Some),
            _ => Err(mismatch("an option (a list of 0 or 1)")),
        }
    }
}

impl<T: Snapshot> Snapshot for Vec<T> {
    fn save(&self) -> Saved {
        Saved::List(self.iter().map(Snapshot::save).collect())
    }

    fn load(saved: &Saved, device: &Device) -> Result<Self> {
        match saved {
            Saved::List(items) => items.iter().map(|item| T::load(item, device)).collect(),
            _ => Err(mismatch("a list")),
        }
    }
}

/// Implements [`Snapshot`] for a struct from its named fields, each a [`Snapshot`]: every
/// field is saved under its name, and loading fails with an
/// [`Error::InvalidCheckpoint`](crate::Error::InvalidCheckpoint) naming a missing or
/// unexpected field. Generic parameters are listed after the name and must all be snapshots
/// (`snapshot_fields!(State<S> { outer, memory })`).
#[macro_export]
macro_rules! snapshot_fields {
    ($name:ident $(<$($generic:ident),+>)? { $($field:ident),+ $(,)? }) => {
        impl$(<$($generic: $crate::snapshot::Snapshot),+>)? $crate::snapshot::Snapshot for $name$(<$($generic),+>)? {
            fn save(&self) -> $crate::snapshot::Saved {
                $crate::snapshot::Saved::Fields(::std::collections::BTreeMap::from([
                    $((::std::string::String::from(stringify!($field)), $crate::snapshot::Snapshot::save(&self.$field))),+
                ]))
            }

            fn load(
                saved: &$crate::snapshot::Saved,
                device: &$crate::snapshot::__private::Device,
            ) -> $crate::Result<Self> {
                let fields = saved.fields_named(&[$(stringify!($field)),+])?;
                Ok(Self { $($field: $crate::snapshot::Snapshot::load(&fields[stringify!($field)], device)?),+ })
            }
        }
    };
}

/// What [`snapshot_fields!`](crate::snapshot_fields) expands to needs, by a path that does not
/// depend on the user's own dependencies.
#[doc(hidden)]
pub mod __private {
    pub use burn::tensor::Device;
}
