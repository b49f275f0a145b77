//! Box outlines for drawing.

use common_weakness_detection::BoundingBox;
use proptest::prelude::*;

#[test]
fn an_outline_is_the_border_of_the_covered_pixels() {
    let b = BoundingBox::new(2.0, 3.0, 6.0, 8.0).unwrap();
    let outline = b.outline(10, 10);
    // Columns 2..=5, rows 3..=7: 2 × 4 + 2 × 3 border pixels.
    assert_eq!(outline.len(), 14);
    assert!(outline.iter().all(|&(x, y)| x == 2 || x == 5 || y == 3 || y == 7));
    // Clipped at the image's edge, wholly outside is empty, thinner than a pixel is one pixel.
    assert!(b.outline(4, 10).iter().all(|&(x, _)| x < 4));
    assert!(b.outline(2, 10).is_empty());
    assert!(BoundingBox::new(-5.0, 1.0, -1.0, 3.0).unwrap().outline(10, 10).is_empty());
    assert_eq!(BoundingBox::new(1.2, 1.2, 1.4, 1.4).unwrap().outline(4, 4), vec![(1, 1)]);
}

proptest! {
    /// Every outline pixel is inside the image, on the box's border, and listed once.
    #[test]
    fn outline_pixels_are_inside_on_the_border_and_unique(
        x in -20.0f32..60.0, y in -20.0f32..60.0, w in 0.0f32..40.0, h in 0.0f32..40.0,
        width in 1usize..50, height in 1usize..50,
    ) {
        let b = BoundingBox::new(x, y, x + w, y + h).unwrap();
        let outline = b.outline(width, height);
        let mut unique = outline.clone();
        unique.sort_unstable();
        unique.dedup();
        prop_assert_eq!(unique.len(), outline.len());
        let (x_first, y_first) = outline.iter().fold((usize::MAX, usize::MAX), |(a, b), &(x, y)| (a.min(x), b.min(y)));
        let (x_last, y_last) = outline.iter().fold((0, 0), |(a, b), &(x, y)| (a.max(x), b.max(y)));
        for &(px, py) in &outline {
            prop_assert!(px < width && py < height);
            prop_assert!(px == x_first || px == x_last || py == y_first || py == y_last);
            // The pixel [px, px + 1] touches the box's span [x, x + w].
            prop_assert!(px as f32 <= x + w && px as f32 + 1.0 >= x);
            prop_assert!(py as f32 <= y + h && py as f32 + 1.0 >= y);
        }
    }
}
