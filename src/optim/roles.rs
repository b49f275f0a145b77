//! The three roles an optimizer plays in an attack loop, and the gradient each role receives.
//!
//! Any [`Optimizer`] can play any role; what differs is what it is fed. The loop prepares
//! each role's input and hands it over in a type that only the loop can build, so a role can
//! never receive the wrong quantity:
//!
//! | role | trait | receives | paper |
//! |---|---|---|---|
//! | reverse (flatness) | [`ReverseOptimizer`] | [`Ascent`]: `−∇L_ens(x)`, the negated ensemble gradient | `x_r = x + r·step(−∇L)` |
//! | inner (closeness) | [`InnerOptimizer`] | [`ModelGradient`]: `∇L_i(x)/‖∇L_i(x)‖₂`, one model's gradient, L2-normalised per image | `x ← x − β·step(g_i/‖g_i‖₂)` |
//! | outer | [`OuterOptimizer`] | [`PseudoGradient`]: `anchor − x_inner`, or the ensemble gradient without a sweep | `x_{t+1} = x + α·step(q)` |
//!
//! The inner normalisation is what gives every surrogate an equal voice whatever the scale of
//! its loss (a robust model's gradients are orders of magnitude smaller than a normal
//! model's): a custom inner optimizer gets it without asking.

use burn::tensor::Tensor;

use super::Optimizer;
use crate::norm::Normalization;

/// The input of a reverse step: the ascent direction `−∇L_ens(x)`. Descending along it
/// ascends the ensemble objective.
#[derive(Clone, Debug)]
pub struct Ascent(Tensor<4>);

impl Ascent {
    /// The ascent direction of the ensemble `gradient`.
    pub(crate) fn of(gradient: Tensor<4>) -> Self {
        Self(gradient.neg())
    }

    /// The tensor `[N, C, H, W]`.
    pub fn tensor(&self) -> &Tensor<4> {
        &self.0
    }
}

/// The input of an inner step: one model's gradient, divided per image by its L2 norm (zero
/// stays zero).
#[derive(Clone, Debug)]
pub struct ModelGradient(Tensor<4>);

impl ModelGradient {
    /// `gradient`, L2-normalised per image.
    pub(crate) fn normalized(gradient: Tensor<4>) -> Self {
        Self(Normalization::L2.apply(gradient))
    }

    /// The tensor `[N, C, H, W]`.
    pub fn tensor(&self) -> &Tensor<4> {
        &self.0
    }
}

/// The input of an outer step: the pseudo-gradient, a descent direction.
#[derive(Clone, Debug)]
pub struct PseudoGradient(Tensor<4>);

impl PseudoGradient {
    /// `direction` as the pseudo-gradient.
    pub(crate) fn new(direction: Tensor<4>) -> Self {
        Self(direction)
    }

    /// The tensor `[N, C, H, W]`.
    pub fn tensor(&self) -> &Tensor<4> {
        &self.0
    }
}

/// The role of the reverse (flatness, sharpness-aware) step: it receives the [`Ascent`]
/// direction, so its descent update moves the iterate uphill on the ensemble objective.
pub trait ReverseOptimizer: Optimizer {
    /// The reverse update for `ascent`; advances `state`.
    fn reverse_step(&self, ascent: Ascent, state: &mut Self::State) -> Tensor<4> {
        self.step(ascent.0, state)
    }
}
impl<T: Optimizer + ?Sized> ReverseOptimizer for T {}

/// The role of the per-model steps of the CWA inner sweep (β, the paper's closeness step): it
/// receives each model's [`ModelGradient`], L2-normalised per image.
pub trait InnerOptimizer: Optimizer {
    /// The inner update for one model's normalised `gradient`; advances `state`.
    fn inner_step(&self, gradient: ModelGradient, state: &mut Self::State) -> Tensor<4> {
        self.step(gradient.0, state)
    }
}
impl<T: Optimizer + ?Sized> InnerOptimizer for T {}

/// The role of the step on the [`PseudoGradient`] (α, the outer update).
pub trait OuterOptimizer: Optimizer {
    /// The outer update for `pseudo_gradient`; advances `state`.
    fn outer_step(&self, pseudo_gradient: PseudoGradient, state: &mut Self::State) -> Tensor<4> {
        self.step(pseudo_gradient.0, state)
    }
}
impl<T: Optimizer + ?Sized> OuterOptimizer for T {}
