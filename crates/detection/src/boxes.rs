//! Axis-aligned boxes in pixel coordinates, and what detectors and datasets attach to them.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// A box `[x_min, x_max) × [y_min, y_max)` in pixels (x to the right, y down).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Left edge.
    pub x_min: f32,
    /// Top edge.
    pub y_min: f32,
    /// Right edge (exclusive).
    pub x_max: f32,
    /// Bottom edge (exclusive).
    pub y_max: f32,
}

impl BoundingBox {
    /// A box from its edges; fails unless every edge is finite and the box is not inverted.
    pub fn new(x_min: f32, y_min: f32, x_max: f32, y_max: f32) -> Result<Self> {
        if ![x_min, y_min, x_max, y_max].iter().all(|v| v.is_finite()) {
            return Err(invalid("box", format!("[{x_min}, {y_min}, {x_max}, {y_max}]"), "edges must be finite"));
        }
        if x_max < x_min || y_max < y_min {
            return Err(invalid(
                "box",
                format!("[{x_min}, {y_min}, {x_max}, {y_max}]"),
                "x_max ≥ x_min and y_max ≥ y_min",
            ));
        }
        Ok(Self { x_min, y_min, x_max, y_max })
    }

    /// Width times height.
    pub fn area(&self) -> f32 {
        (self.x_max - self.x_min) * (self.y_max - self.y_min)
    }

    /// Width.
    pub fn width(&self) -> f32 {
        self.x_max - self.x_min
    }

    /// Height.
    pub fn height(&self) -> f32 {
        self.y_max - self.y_min
    }

    /// The same box as the attack library's [`Region`](common_weakness::universal::Region),
    /// where patches placed on objects go.
    pub fn region(&self) -> common_weakness::universal::Region {
        let edge = f64::from;
        common_weakness::universal::Region {
            left: edge(self.x_min),
            top: edge(self.y_min),
            right: edge(self.x_max),
            bottom: edge(self.y_max),
        }
    }

    /// Whether the box lies inside a `width × height` image.
    pub fn is_inside(&self, width: usize, height: usize) -> bool {
        self.x_min >= 0.0 && self.y_min >= 0.0 && self.x_max <= width as f32 && self.y_max <= height as f32
    }
}

/// Intersection over union of two boxes, in `[0, 1]` (0 when both are empty).
///
/// ```
/// use common_weakness_detection::{iou, BoundingBox};
///
/// let a = BoundingBox::new(0.0, 0.0, 10.0, 10.0).unwrap();
/// let b = BoundingBox::new(5.0, 0.0, 15.0, 10.0).unwrap();
/// assert!((iou(&a, &b) - 50.0 / 150.0).abs() < 1e-6);
/// ```
pub fn iou(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let width = (a.x_max.min(b.x_max) - a.x_min.max(b.x_min)).max(0.0);
    let height = (a.y_max.min(b.y_max) - a.y_min.max(b.y_min)).max(0.0);
    let intersection = width * height;
    let union = a.area() + b.area() - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
}

/// One object of a scene: its class and box.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The class index.
    pub class: usize,
    /// Where it is.
    pub bbox: BoundingBox,
}

/// One detection: a box, a class and the detector's confidence.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The class index.
    pub class: usize,
    /// Where.
    pub bbox: BoundingBox,
    /// Confidence, higher is surer.
    pub score: f32,
}
