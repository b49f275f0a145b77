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

    /// The pixels `(x, y)` of the box's one-pixel outline in a `width × height` image, each
    /// once: pixel columns `⌊x_min⌋ ..= ⌈x_max⌉ − 1` and rows likewise, clipped to the image
    /// (a box thinner than a pixel still gets one). Empty when the box lies wholly outside.
    ///
    /// ```
    /// use common_weakness_detection::BoundingBox;
    ///
    /// let b = BoundingBox::new(1.0, 1.0, 4.0, 3.0).unwrap();
    /// let outline = b.outline(8, 8);
    /// assert_eq!(outline.len(), 3 + 3); // rows 1 and 2 of columns 1..=3: all on the border
    /// assert!(outline.contains(&(3, 2)) && !outline.contains(&(4, 2)));
    /// ```
    pub fn outline(&self, width: usize, height: usize) -> Vec<(usize, usize)> {
        let span = |low: f32, high: f32, size: usize| {
            let first = low.max(0.0).floor() as usize;
            if high < 0.0 || first >= size {
                return None;
            }
            Some((first, (high.ceil() as usize).clamp(first + 1, size) - 1))
        };
        let (Some((x0, x1)), Some((y0, y1))) =
            (span(self.x_min, self.x_max, width), span(self.y_min, self.y_max, height))
        else {
            return Vec::new();
        };
        let mut pixels: Vec<(usize, usize)> = (x0..=x1).map(|x| (x, y0)).collect();
        if y1 > y0 {
            pixels.extend((x0..=x1).map(|x| (x, y1)));
        }
        for y in y0 + 1..y1 {
            pixels.push((x0, y));
            if x1 > x0 {
                pixels.push((x1, y));
            }
        }
        pixels
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
