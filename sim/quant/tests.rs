//! Format-level properties: exact sizes, exact code round trips, bounded rounding error,
//! kernels against the f64 reference, thread-count independence and refusal of bad input.

use super::group::{Grouped, INT3, INT4};
use super::isa::Isa;
use super::q35::{PairGrid, grid};
use super::{Feedback, Format, PackedMatrix, QuantError, int8, kquant, weights};
use proptest::prelude::*;

fn shape() -> impl Strategy<Value = (usize, usize)> {
    (1usize..6, 1usize..300)
}

fn random_matrix() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    shape().prop_flat_map(|(r, c)| (Just(r), Just(c), prop::collection::vec(-4.0f32..4.0, r * c)))
}

/// `|w - value| <= step / 2` unless the code sits on an end of its grid with `w` beyond it.
fn within_half_step(w: f32, value: f32, step: f32, code: u32, max: u32, ends: (f32, f32)) -> bool {
    let clamped = (code == 0 && w < ends.0) || (code == max && w > ends.1);
    clamped || step == 0.0 || (w - value).abs() <= 0.5 * step * (1.0 + 1e-5) + 1e-6 * w.abs()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn packed_length_is_the_catalogue_size((rows, cols, w) in random_matrix()) {
        for f in Format::ALL {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            prop_assert_eq!(m.bytes().len() as u64, f.packed_bytes(rows as u64, cols as u64));
            let again = PackedMatrix::from_bytes(f, rows, cols, m.bytes()).unwrap();
            prop_assert_eq!(again.dequantize(), m.dequantize());
        }
    }

    #[test]
    fn rounding_error_is_at_most_half_a_step((rows, cols, w) in random_matrix()) {
        for f in Format::ALL {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            let d = m.dequantize();
            let v = m.view();
            for (i, (&x, &y)) in w.iter().zip(&d).enumerate() {
                let (r, c) = (i / cols, i % cols);
                let ok = match f {
                    Format::F32 => x == y,
                    Format::F16 => (x - y).abs() <= x.abs() * 2f32.powi(-11) + 3e-8,
                    Format::Bf16 => (x - y).abs() <= x.abs() * 2f32.powi(-8),
                    Format::Int8 => {
                        let s = int8::scale(&v, r);
                        (x - y).abs() <= 0.5 * s * (1.0 + 1e-5)
                    }
                    Format::Int4G128 | Format::Int3G64 => {
                        let g: Grouped = if f == Format::Int4G128 { INT4 } else { INT3 };
                        let (s, z) = g.grid(&v, r, c);
                        let max = (1 << g.bits) - 1;
                        let ends = (z, z + s * max as f32);
                        within_half_step(x, y, s, g.code(x, s, z), max, ends)
                    }
                    Format::Q3K256 => {
                        let (s, min) = kquant::sub_at(&v, r, c);
                        let u = ((x + min) / s).round().clamp(0.0, 7.0) as u32;
                        within_half_step(x, y, s, if s == 0.0 { 0 } else { u }, 7, (-min, 7.0 * s - min))
                    }
                    _ => {
                        let pg: PairGrid = grid(f, &v, r);
                        let (s4, s3) = pg.steps();
                        if c % 2 == 0 {
                            let ends = (pg.even_value(0), pg.even_value(15));
                            within_half_step(x, y, s4, pg.even_code(x), 15, ends)
                        } else {
                            let ends = (pg.odd_value(0), pg.odd_value(7));
                            within_half_step(x, y, s3, pg.odd_code(x), 7, ends)
                        }
                    }
                };
                prop_assert!(ok, "{f}: w[{r},{c}] = {x} decoded as {y}");
            }
        }
    }

    /// Weights placed exactly on a format's grid (steps and offsets exact in f16, every
    /// extreme code present so min/max reproduce the grid) come back bit for bit: unpacking
    /// recovers every packed code.
    #[test]
    fn codes_round_trip((rows, cols) in (1usize..5, 2usize..300), seed in any::<u64>()) {
        let codes = weights::activations(rows * cols, seed);
        let step = 2f32.powi(-6);
        let code_at = |i: usize, levels: u32| -> u32 {
            let c = i % cols;
            // The first two columns of each row and group hold the extremes.
            match c % 64 {
                0 => 0,
                1 => levels - 1,
                _ => (codes[i].abs() * 1000.0) as u32 % levels,
            }
        };
        let int8: Vec<f32> = (0..rows * cols)
            .map(|i| step * (code_at(i, 255) as f32 - 127.0))
            .collect();
        let int4: Vec<f32> = (0..rows * cols).map(|i| 1.0 + step * code_at(i, 16) as f32).collect();
        let int3: Vec<f32> = (0..rows * cols).map(|i| -1.0 + step * code_at(i, 8) as f32).collect();
        // q3.5: even codes on -8..=7 (extremes at pair 0), odd codes on -4..=3.
        let q35: Vec<f32> = (0..rows * cols)
            .map(|i| {
                let c = i % cols;
                let q = match c {
                    0 => -8,
                    2 => 7,
                    _ if c % 2 == 0 => code_at(i, 16) as i32 - 8,
                    _ => code_at(i, 8) as i32 - 4,
                };
                0.5 + step * q as f32
            })
            .collect();
        let q35_cols_ok = cols >= 3;
        for (f, w) in [
            (Format::Int8, &int8),
            (Format::Int4G128, &int4),
            (Format::Int3G64, &int3),
            (Format::Q35, &q35),
            (Format::Q35Byte, &q35),
        ] {
            if f.name().starts_with("q3.5") && !q35_cols_ok {
                continue;
            }
            let m = PackedMatrix::quantize(f, rows, cols, w).unwrap();
            prop_assert_eq!(&m.dequantize(), w, "{}", f);
        }
    }

    /// `q3-k256` weights on an exact grid (6-bit scales and mins of 2^-10 with 63 present in
    /// every super-block, every sub-block using codes 0 and 7) come back bit for bit.
    #[test]
    fn k_quant_codes_round_trip((rows, cols) in (1usize..4, 1usize..700), seed in any::<u64>()) {
        let r = weights::activations(rows * cols + 4 * rows * cols.div_ceil(32), seed);
        let pick = |i: usize, n: u32| (r[i].abs() * 1000.0) as u32 % n;
        let step = 2f32.powi(-10);
        let subs = cols.div_ceil(32);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| {
                let (row, c) = (i / cols, i % cols);
                let sub = row * subs + c / 32;
                // The first sub-block of each super-block holds the largest scale and min.
                let first = c % 256 < 32;
                let sc = if first { 63 } else { 1 + pick(rows * cols + 2 * sub, 63) };
                let m = if first { 63 } else { pick(rows * cols + 2 * sub + 1, 64) };
                let u = match c % 32 {
                    0 => 0,
                    1 => 7,
                    _ => pick(i, 8),
                };
                step * (sc * u) as f32 - step * m as f32
            })
            .collect();
        let lone = cols % 32 == 1;
        if !lone {
            let m = PackedMatrix::quantize(Format::Q3K256, rows, cols, &w).unwrap();
            prop_assert_eq!(m.dequantize(), w);
        }
    }

    #[test]
    fn kernels_match_the_f64_reference((rows, cols, w) in random_matrix(), batch in 1usize..4) {
        let x = weights::activations(batch * cols, 9);
        for f in Format::ALL {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            let reference = m.gemm_reference(&x, batch);
            let mut y = vec![0.0; batch * rows];
            m.gemm(&x, batch, &mut y);
            let mut y1 = vec![0.0; rows];
            m.gemv(&x[..cols], &mut y1);
            let scale = (cols as f64).sqrt() * 4.0;
            for (i, (&a, &b)) in y.iter().zip(&reference).enumerate() {
                prop_assert!((f64::from(a) - b).abs() <= 1e-5 * scale, "{f} gemm[{i}] {a} vs {b}");
            }
            prop_assert_eq!(&y1[..], &y[..rows], "{}: gemv is the first gemm row", f);
        }
    }

    /// The kernels this CPU dispatches to compute exactly the portable kernels' arithmetic.
    #[test]
    fn dispatched_kernels_equal_the_portable_ones_bit_for_bit(
        (rows, cols, w) in random_matrix(),
        batch in 1usize..4,
        seed in any::<u64>(),
    ) {
        let x = weights::activations(batch * cols, seed);
        for f in Format::ALL {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            let run = |isa| {
                let mut y = vec![0.0f32; batch * rows];
                m.gemm_on(isa, &x, batch, &mut y);
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            for isa in Isa::available() {
                prop_assert_eq!(run(isa), run(Isa::Portable), "{} on {:?}", f, isa);
            }
        }
    }
}

#[test]
fn kernels_are_bit_identical_for_any_thread_count() {
    let (rows, cols) = (300, 1000);
    let w = weights::llama_like(rows, cols, 3);
    let x = weights::activations(3 * cols, 4);
    let run = |threads: usize, m: &PackedMatrix| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut y = vec![0.0; rows];
            m.gemv(&x[..cols], &mut y);
            let mut z = vec![0.0; 3 * rows];
            m.gemm(&x, 3, &mut z);
            let deq = m.dequantize();
            let mut yi = vec![0.0; 4 * rows];
            if m.has_int8_kernel() {
                m.gemv_i8(&x[..cols], &mut yi[..rows]).unwrap();
                m.gemm_i8(&x, 3, &mut yi[rows..]).unwrap();
            }
            (y, z, deq, yi)
        })
    };
    for f in Format::ALL {
        let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
        let (a, b) = (run(1, &m), run(2, &m));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.0), bits(&b.0), "{f} gemv");
        assert_eq!(bits(&a.1), bits(&b.1), "{f} gemm");
        assert_eq!(bits(&a.2), bits(&b.2), "{f} dequantize");
        assert_eq!(bits(&a.3), bits(&b.3), "{f} gemv_i8");
    }
}

#[test]
fn int8_activation_kernel_tracks_the_reference() {
    let (rows, cols) = (64, 512);
    let w = weights::gaussian(rows, cols, 5);
    let x = weights::activations(cols, 6);
    let mut y = vec![0.0; rows];
    for f in int8_kernel_formats() {
        let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
        let reference = m.gemm_reference(&x, 1);
        m.gemv_i8(&x, &mut y).unwrap();
        let r: Vec<f32> = reference.iter().map(|&v| v as f32).collect();
        let e = super::ErrorMetrics::between(&r, &y);
        assert!(e.rel_error < 0.02, "{f}: {e:?}");
    }
    for f in Format::ALL {
        let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
        assert_eq!(
            m.has_int8_kernel(),
            int8_kernel_formats().any(|g| g == f),
            "{f}"
        );
        if !m.has_int8_kernel() {
            let e = m.gemv_i8(&x, &mut y).unwrap_err();
            assert!(matches!(e, QuantError::NoInt8Kernel { format } if format == f));
            assert!(e.to_string().contains("no int8-activation kernel"), "{e}");
        }
    }
}

/// The formats with an int8-activation kernel: every integer format.
/// The integer formats but `q3-k256`, whose super-blocks have no int8-activation kernel yet.
fn int8_kernel_formats() -> impl Iterator<Item = Format> {
    Format::ALL.into_iter().filter(|&f| f.is_integer())
}

/// `x` rounded to int8 as `gemv_i8` does, back in f64: `sx · qx`.
fn int8_rounded(x: &[f32]) -> Vec<f64> {
    let sx = x.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
    x.iter()
        .map(|&v| f64::from(sx) * f64::from(int8::code(v, sx)))
        .collect()
}

/// The bits of `gemm_i8` on the kernels of `isa` for the `x.len() / cols` vectors of `x`.
fn i8_bits(m: &PackedMatrix, isa: Isa, x: &[f32]) -> Vec<u32> {
    let batch = x.len() / m.cols();
    let mut y = vec![0.0f32; batch * m.rows()];
    m.gemm_i8_on(isa, x, batch, &mut y).unwrap();
    y.iter().map(|v| v.to_bits()).collect()
}

/// Shapes with long rows too: several 32-pair steps, more than eight of them (16-bit sums
/// widened), odd K, rows starting at any bit of the stream.
fn long_matrix() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (
        1usize..5,
        prop_oneof![1usize..1200, (1usize..20).prop_map(|k| 64 * k)],
    )
        .prop_flat_map(|(r, c)| (Just(r), Just(c), prop::collection::vec(-4.0f32..4.0, r * c)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The integer path is exact: it equals the f64 product of the dequantized weights and the
    /// int8-rounded activations up to the f32 rounding of the weights and of the result.
    #[test]
    fn int8_activation_kernels_are_exact((rows, cols, w) in long_matrix(), seed in any::<u64>()) {
        let x = weights::activations(cols, seed);
        let xr = int8_rounded(&x);
        for f in int8_kernel_formats() {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            let mut y = vec![0.0f32; rows];
            m.gemv_i8(&x, &mut y).unwrap();
            let mut row = vec![0.0f32; cols];
            for (r, &got) in y.iter().enumerate() {
                m.dequantize_row(r, &mut row);
                // A dequantized weight `o + s q` is rounded to f32 once or twice, each time by
                // at most half an ulp of terms bounded by the row's largest magnitude.
                let wmax = row.iter().fold(0f64, |m, &w| m.max(f64::from(w).abs()));
                let (exact, magnitude) = row.iter().zip(&xr).fold((0.0, 0.0), |(s, a), (&w, &x)| {
                    let w = f64::from(w);
                    (s + w * x, a + (w.abs() + 3.0 * wmax) * x.abs())
                });
                let tol = 2f64.powi(-22) * magnitude + f64::from(f32::MIN_POSITIVE);
                prop_assert!(
                    (f64::from(got) - exact).abs() <= tol,
                    "{f} row {r}: {got} vs {exact} (tol {tol})"
                );
            }
        }
    }

    /// The dispatched int8-activation kernels give exactly the portable definition's bits,
    /// and a batch gives exactly the single-vector results.
    #[test]
    fn int8_activation_kernels_equal_the_portable_ones_bit_for_bit(
        (rows, cols, w) in long_matrix(),
        batch in 1usize..4,
        seed in any::<u64>(),
    ) {
        let x = weights::activations(batch * cols, seed);
        for f in int8_kernel_formats() {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            let fast = i8_bits(&m, Isa::detect(), &x);
            for isa in Isa::available() {
                prop_assert_eq!(&i8_bits(&m, isa, &x), &i8_bits(&m, Isa::Portable, &x), "{} on {:?}", f, isa);
            }
            for (b, xb) in x.chunks(cols).enumerate() {
                let mut y = vec![0.0f32; rows];
                m.gemv_i8(xb, &mut y).unwrap();
                let one: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                prop_assert_eq!(&fast[b * rows..(b + 1) * rows], &one[..], "{} batch {}", f, b);
            }
        }
    }

    /// Any bytes, not only what the packer writes (padding bits set, `q3.5-byte` bit 7 set,
    /// `int8` code -128):
    /// the vector decoder reads exactly the portable decoder's codes.
    #[test]
    fn int8_activation_kernels_agree_on_arbitrary_bytes(
        rows in 1usize..4,
        cols in prop_oneof![1usize..700, (1usize..12).prop_map(|k| 64 * k)],
        seed in any::<u64>(),
    ) {
        let x = weights::activations(cols, seed);
        for f in [
            Format::Int8,
            Format::Q35,
            Format::Q35Byte,
            Format::Q35Opt,
            Format::Int4G128,
            Format::Int3G64,
            Format::Q3K256,
        ] {
            let n = f.packed_bytes(rows as u64, cols as u64) as usize;
            let code_len = f.code_bytes(rows as u64, cols as u64) as usize;
            let noise = weights::activations(n, seed ^ 5);
            let mut bytes: Vec<u8> = noise.iter().map(|v| (v.to_bits() >> 7) as u8).collect();
            // Finite metadata: every scale and offset 0.5 (f16 0x3800).
            for m in bytes[code_len..].chunks_exact_mut(2) {
                m.copy_from_slice(&[0x00, 0x38]);
            }
            let m = PackedMatrix::from_bytes(f, rows, cols, bytes).unwrap();
            // Two vectors: the row decoded once into bytes.
            let x2 = [&x[..], &x[..]].concat();
            for isa in Isa::available() {
                prop_assert_eq!(i8_bits(&m, isa, &x), i8_bits(&m, Isa::Portable, &x), "{} on {:?}", f, isa);
                prop_assert_eq!(i8_bits(&m, isa, &x2), i8_bits(&m, Isa::Portable, &x2), "{} on {:?}", f, isa);
            }
        }
    }
}

/// Relative error the int8 rounding of the activations adds, against the f32-activation GEMV
/// on the same packed matrix (the figures quoted in docs/formats.md; run with `--nocapture`).
#[test]
fn int8_activation_rounding_error_is_small() {
    let (rows, cols) = (1024, 4096);
    let x = weights::activations(cols, 2);
    for (dist, w) in [
        ("gaussian", weights::gaussian(rows, cols, 1)),
        ("llama", weights::llama_like(rows, cols, 1)),
    ] {
        for f in int8_kernel_formats() {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            let (mut y, mut z) = (vec![0.0; rows], vec![0.0; rows]);
            m.gemv(&x, &mut y);
            m.gemv_i8(&x, &mut z).unwrap();
            let e = super::ErrorMetrics::between(&y, &z);
            println!(
                "{dist:<9} {f:<10} rel. error of gemv_i8 vs gemv: {:.5}",
                e.rel_error
            );
            assert!(e.rel_error < 0.02, "{dist} {f}: {e:?}");
        }
    }
}

#[test]
fn opt_beats_the_described_q35_on_both_distributions() {
    let (rows, cols) = (64, 1024);
    for w in [
        weights::gaussian(rows, cols, 1),
        weights::llama_like(rows, cols, 1),
    ] {
        let err = |f| {
            let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
            super::ErrorMetrics::between(&w, &m.dequantize()).rel_error
        };
        // Uniform grids sharing one range cannot beat about 0.156 on Gaussian rows (optimal
        // 16- and 8-level uniform quantizers); q3.5's clipped 3-bit codes give about 0.20.
        let (q35, opt) = (err(Format::Q35), err(Format::Q35Opt));
        assert!(opt < 0.85 * q35, "q3.5 {q35} vs q3.5-opt {opt}");
        assert_eq!(err(Format::Q35Byte), q35);
    }
}

#[test]
fn constant_rows_decode_to_the_constant() {
    let w = vec![0.375f32; 2 * 130];
    for f in Format::ALL {
        let m = PackedMatrix::quantize(f, 2, 130, &w).unwrap();
        // int8 rebuilds the value as 127 * f16(value / 127), q3-k256 as a 6-bit multiple of
        // an f16 super-block scale; the others hold it exactly.
        let tol = if matches!(f, Format::Int8 | Format::Q3K256) {
            0.375 * 2f32.powi(-10)
        } else {
            0.0
        };
        assert!(
            m.dequantize().iter().all(|&v| (v - 0.375).abs() <= tol),
            "{f}"
        );
    }
}

#[test]
fn bad_weights_and_shapes_are_refused_with_where() {
    let mut w = vec![0.1f32; 12];
    w[7] = f32::NAN;
    for f in Format::ALL {
        let e = PackedMatrix::quantize(f, 3, 4, &w).unwrap_err();
        assert!(
            matches!(
                e,
                QuantError::NonFinite {
                    index: 7,
                    row: 1,
                    col: 3,
                    ..
                }
            ),
            "{e}"
        );
    }
    w[7] = f32::INFINITY;
    assert!(
        PackedMatrix::quantize(Format::Q35, 3, 4, &w)
            .unwrap_err()
            .to_string()
            .contains("weight 7")
    );
    assert!(matches!(
        PackedMatrix::quantize(Format::Int8, 3, 5, &[0.0; 12]),
        Err(QuantError::ShapeMismatch {
            expected: 15,
            got: 12,
            ..
        })
    ));
    assert!(matches!(
        PackedMatrix::quantize(Format::Int8, 0, 5, &[]),
        Err(QuantError::Empty { .. })
    ));
    assert!(matches!(
        PackedMatrix::quantize(Format::Int8, usize::MAX, 2, &[]),
        Err(QuantError::TooLarge { .. })
    ));
}

#[test]
fn ranges_beyond_f16_are_refused() {
    let big = [1e6f32, -1e6, 0.0, 1.0];
    for f in [
        Format::F16,
        Format::Int4G128,
        Format::Int3G64,
        Format::Q35,
        Format::Q35Opt,
    ] {
        let e = PackedMatrix::quantize(f, 1, 4, &big).unwrap_err();
        assert!(
            matches!(e, QuantError::F16Overflow { row: 0, .. }),
            "{f}: {e}"
        );
    }
    assert!(PackedMatrix::quantize(Format::Int8, 1, 2, &[1e8, 0.0]).is_err());
    assert!(PackedMatrix::quantize(Format::Bf16, 1, 2, &[1e8, 0.0]).is_ok());
}

#[test]
fn from_bytes_checks_length_and_metadata() {
    let m = PackedMatrix::quantize(Format::Q35, 2, 5, &[0.5; 10]).unwrap();
    let mut bytes = m.bytes().to_vec();
    assert!(matches!(
        PackedMatrix::from_bytes(Format::Q35, 2, 5, &bytes[1..]),
        Err(QuantError::ByteLength {
            expected: 14,
            got: 13,
            ..
        })
    ));
    let n = bytes.len();
    bytes[n - 1] = 0x7e; // f16 NaN in the last offset.
    assert!(matches!(
        PackedMatrix::from_bytes(Format::Q35, 2, 5, bytes),
        Err(QuantError::CorruptMetadata { index: 3, .. })
    ));
    assert!(PackedMatrix::from_bytes(Format::Q35Opt, 2, 5, m.bytes()).is_ok());
}

#[test]
fn quantizing_by_blocks_of_rows_gives_the_bytes_of_the_whole_matrix() {
    // 150 rows: two full blocks and a partial one; odd widths end rows mid-byte.
    for cols in [129, 200] {
        let rows = 150;
        let w = weights::llama_like(rows, cols, 5);
        let fill = |r: usize, row: &mut [f32]| row.copy_from_slice(&w[r * cols..][..cols]);
        let in_pool = |threads: usize, f: Format| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| PackedMatrix::quantize_rows(f, rows, cols, fill).unwrap())
        };
        for f in Format::ALL {
            let (m, sums) = in_pool(1, f);
            assert_eq!(m, PackedMatrix::quantize(f, rows, cols, &w).unwrap(), "{f}");
            assert_eq!((m.clone(), sums), in_pool(2, f), "{f}: thread count");
            let whole = super::ErrorMetrics::between(&w, &m.dequantize());
            let blocks = sums.metrics();
            assert!(
                (blocks.rel_error - whole.rel_error).abs() <= 1e-12 * whole.rel_error.max(1.0),
                "{f}"
            );
            assert_eq!(blocks.max_abs_error, whole.max_abs_error, "{f}");
        }
    }
    let bad = PackedMatrix::quantize_rows(Format::Int8, 100, 3, |r, row| {
        row.fill(if r == 70 { f32::NAN } else { 1.0 })
    });
    assert!(matches!(
        bad,
        Err(QuantError::NonFinite {
            index: 210,
            row: 70,
            col: 0,
            ..
        })
    ));
}

/// Speed of the GEMV kernels on one thread with the matrix in cache (L3; best of many short
/// runs, which a shared host disturbs least): `cargo test --release --lib kernel_speed --
/// --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn kernel_speed() {
    let (rows, cols) = (2048, 8192);
    let w = weights::gaussian(rows, cols, 1);
    let x = weights::activations(cols, 2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut y = vec![0.0; rows];
    for f in [Format::Int4G128, Format::Int8, Format::Q35, Format::Q35Byte] {
        let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
        let mut best = |run: &mut (dyn FnMut(&mut [f32]) + Send)| {
            pool.install(|| {
                (0..60)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        run(&mut y);
                        t.elapsed().as_secs_f64()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
        };
        let t = best(&mut |y| m.gemv(&x, y));
        let gw = (rows * cols) as f64 / t / 1e9;
        print!("{f:<10} f32 act: {gw:6.2} Gweight/s");
        if m.has_int8_kernel() {
            let t = best(&mut |y| m.gemv_i8(&x, y).unwrap());
            let gw = (rows * cols) as f64 / t / 1e9;
            print!("   int8 act: {gw:6.2} Gweight/s");
            let x4 = x.repeat(4);
            let mut y4 = vec![0.0; 4 * rows];
            let t = best(&mut |_| m.gemm_i8(&x4, 4, &mut y4).unwrap());
            let gw = (rows * cols) as f64 / t / 1e9;
            print!("   batch of 4: {gw:6.2} Gweight/s");
        }
        println!();
    }
}

/// Inputs with correlated channels, so error feedback has something to exploit, and the
/// calibration Hessian `Σ x xᵀ` of them.
fn correlated_inputs(cols: usize, n: usize) -> (Vec<f32>, Vec<f64>) {
    let z = weights::activations(n * cols, 21);
    let mut x = vec![0.0f32; n * cols];
    for (xr, zr) in x.chunks_exact_mut(cols).zip(z.chunks_exact(cols)) {
        for c in 0..cols {
            xr[c] = zr[c] + 0.8 * zr[(c + 1) % cols] + 0.5 * zr[0];
        }
    }
    let mut h = vec![0.0; cols * cols];
    for xr in x.chunks_exact(cols) {
        for a in 0..cols {
            for b in 0..cols {
                h[a * cols + b] += f64::from(xr[a]) * f64::from(xr[b]);
            }
        }
    }
    (x, h)
}

#[test]
fn calibrated_codes_cut_the_output_error_and_ignore_threads() {
    let (rows, cols, n) = (24, 160, 200);
    let w = weights::llama_like(rows, cols, 5);
    let (x, h) = correlated_inputs(cols, n);
    let feedback = Feedback::from_hessian(cols, &h, 0.01).unwrap();
    let output_error = |m: &PackedMatrix| {
        let d = m.dequantize();
        let mut e = 0.0f64;
        for xr in x.chunks_exact(cols) {
            for r in 0..rows {
                let dot: f64 = (0..cols)
                    .map(|c| f64::from(w[r * cols + c] - d[r * cols + c]) * f64::from(xr[c]))
                    .sum();
                e += dot * dot;
            }
        }
        e
    };
    for f in Format::ALL {
        if !f.is_calibrated() {
            let e = PackedMatrix::quantize_calibrated(f, rows, cols, &w, &feedback).unwrap_err();
            assert_eq!(e, QuantError::NotCalibrated { format: f });
            continue;
        }
        let in_pool = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    PackedMatrix::quantize_calibrated(f, rows, cols, &w, &feedback).unwrap()
                })
        };
        let cal = in_pool(1);
        assert_eq!(cal.bytes(), in_pool(3).bytes(), "{f}");
        assert_eq!(
            cal.bytes().len() as u64,
            f.packed_bytes(rows as u64, cols as u64)
        );
        let rtn = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
        let (e_cal, e_rtn) = (output_error(&cal), output_error(&rtn));
        assert!(
            e_cal < 0.8 * e_rtn,
            "{f}: calibrated {e_cal} vs nearest {e_rtn}"
        );
    }
    let short = Feedback::from_hessian(3, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], 0.01);
    let e = PackedMatrix::quantize_calibrated(Format::Q3K256, rows, cols, &w, &short.unwrap());
    assert!(
        matches!(e, Err(QuantError::Hessian { cols: 3, .. })),
        "{e:?}"
    );
}

#[test]
fn k_quant_beats_int3_on_llama_like_rows_at_the_same_rate() {
    let (rows, cols) = (32, 2048);
    let w = weights::llama_like(rows, cols, 2);
    let err = |f| {
        let m = PackedMatrix::quantize(f, rows, cols, &w).unwrap();
        super::ErrorMetrics::between(&w, &m.dequantize()).rel_error
    };
    assert_eq!(
        Format::Q3K256.bits_per_weight(rows as u64, cols as u64),
        3.5
    );
    let (k, int3, opt) = (
        err(Format::Q3K256),
        err(Format::Int3G64),
        err(Format::Q35Opt),
    );
    assert!(
        k < int3 && k < opt,
        "q3-k256 {k}, int3-g64 {int3}, q3.5-opt {opt}"
    );
}
