//! Two lanes through the same layers in lockstep: the f32 reference and the formats under test.
//! Only one layer of each lane exists at a time, so a model far larger than memory (a 405B
//! checkpoint, real or synthetic) is compared layer by layer at its true widths.

use super::Config;
use super::data_error;
use super::decoder::{Layer, LayerCache, RopeTable, head, vector};
use super::tensor::{Checkpoint, Tensor};
use crate::quant::{ErrorSums, Format};

/// How far the lane under test ended from the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneError {
    /// Decoder layers both lanes ran.
    pub layers: usize,
    /// Positions of the input.
    pub positions: usize,
    /// ‖x_test − x_ref‖ / ‖x_ref − x_in‖: the error of what the layers added to the residual
    /// stream, relative to what they added (the input itself carries no error).
    pub update_rel_error: f64,
    /// ‖logits_test − logits_ref‖ / ‖logits_ref‖, when the head ran.
    pub logits_rel_error: Option<f64>,
    /// The weight error of each matrix the lane quantized, in load order.
    pub matrices: Vec<(Tensor, ErrorSums)>,
}

/// Run the residual stream `input` (positions × dim) through the first `layers` layers of `ck`
/// (and the final norm and classifier if `with_head`) in f32 and once per lane under test, each
/// lane storing every tensor in the format it picks; `progress` hears each finished layer.
/// The reference lane runs once however many lanes are compared.
pub fn compare(
    ck: &dyn Checkpoint,
    lanes: &[&dyn Fn(Tensor) -> Format],
    input: &[f32],
    layers: usize,
    with_head: bool,
    progress: &mut dyn FnMut(usize),
) -> crate::Result<Vec<LaneError>> {
    let c: &Config = ck.config();
    c.check().map_err(|r| data_error(ck.path(), r))?;
    if layers > c.layers || input.is_empty() || !input.len().is_multiple_of(c.dim) {
        return Err(data_error(
            ck.path(),
            format!(
                "cannot run {layers} of {} layers on {} inputs of width {}",
                c.layers,
                input.len(),
                c.dim
            ),
        ));
    }
    let n = input.len() / c.dim;
    let rope = RopeTable::new(&c.rope_frequencies(), 0, n);
    let reference = |_: Tensor| Format::F32;
    let all: Vec<&dyn Fn(Tensor) -> Format> =
        std::iter::once(&reference as &dyn Fn(Tensor) -> Format)
            .chain(lanes.iter().copied())
            .collect();
    let mut xs = vec![input.to_vec(); all.len()];
    let mut matrices = vec![Vec::new(); all.len()];
    for l in 0..layers {
        // One lane under test can take its matrices from the reference's draws; several would
        // each hold a packed layer at once, so they draw their own.
        if let [lane] = lanes {
            let tensors = Tensor::of_layer(l).into_iter().filter(|t| t.is_linear());
            ck.expect(&tensors.map(|t| (t, lane(t))).collect::<Vec<_>>());
        }
        for ((x, format_of), m) in xs.iter_mut().zip(&all).zip(&mut matrices) {
            let layer = Layer::load(ck, l, *format_of)?;
            m.extend(layer.weight_errors(l));
            layer.forward(c, x, n, &rope, &mut LayerCache::default(), &mut |_, _| ());
        }
        progress(l + 1);
    }
    let logits = if with_head {
        let one = |x: &[f32],
                   format_of: &dyn Fn(Tensor) -> Format,
                   m: &mut Vec<(Tensor, ErrorSums)>|
         -> crate::Result<Vec<f32>> {
            let norm = vector(ck, Tensor::FinalNorm, format_of(Tensor::FinalNorm))?;
            let classifier = ck.linear(Tensor::Classifier, format_of(Tensor::Classifier))?;
            m.extend(classifier.weight_error().map(|e| (Tensor::Classifier, e)));
            Ok(head(c, &norm, classifier.as_ref(), x, n))
        };
        Some(
            xs.iter()
                .zip(&all)
                .zip(&mut matrices)
                .map(|((x, f), m)| one(x, *f, m))
                .collect::<crate::Result<Vec<_>>>()?,
        )
    } else {
        None
    };
    let x_ref = &xs[0];
    let added: Vec<f32> = x_ref.iter().zip(input).map(|(r, i)| r - i).collect();
    Ok(matrices
        .into_iter()
        .enumerate()
        .skip(1)
        .map(|(i, matrices)| LaneError {
            layers,
            positions: n,
            update_rel_error: rel_error(&xs[i], x_ref, &added),
            logits_rel_error: logits.as_ref().map(|l| rel_error(&l[i], &l[0], &l[0])),
            matrices,
        })
        .collect())
}

/// ‖a − b‖ / ‖scale‖ in f64 (0 when both are equal, even if `scale` is zero).
fn rel_error(a: &[f32], b: &[f32], scale: &[f32]) -> f64 {
    let sq = |v: f64| v * v;
    let err: f64 = a.iter().zip(b).map(|(x, y)| sq(f64::from(x - y))).sum();
    let norm: f64 = scale.iter().map(|&v| sq(f64::from(v))).sum();
    if err == 0.0 { 0.0 } else { (err / norm).sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decoder::{KvCache, Model};
    use crate::model::llama2c::Llama2c;
    use crate::model::synthetic::Synthetic;
    use crate::model::testdata::STORIES_BIN;
    use std::path::Path;

    fn small() -> Synthetic {
        let config = Config {
            dim: 64,
            hidden: 160,
            layers: 3,
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
            vocab: 50,
            max_seq: 50,
            norm_eps: 1e-5,
            rope_theta: 10_000.0,
            llama3_scaling: None,
        };
        Synthetic::new(config, 3)
    }

    #[test]
    fn the_reference_against_itself_has_no_error() {
        let ck = small();
        let input = ck.tensor(Tensor::Embedding).unwrap().unwrap();
        let e = compare(
            &ck,
            &[&|_| Format::F32],
            &input[..5 * 64],
            3,
            true,
            &mut |_| {},
        )
        .unwrap()
        .remove(0);
        assert_eq!((e.update_rel_error, e.logits_rel_error), (0.0, Some(0.0)));
        assert!(e.matrices.is_empty(), "f32 matrices are stored exactly");
        assert_eq!((e.layers, e.positions), (3, 5));
    }

    #[test]
    fn lanes_match_the_whole_model_on_the_real_checkpoint() {
        // The lockstep reference lane is the decoder's forward pass, layer by layer: a format's
        // error measured either way is the same.
        let ck = Llama2c::open(Path::new(STORIES_BIN)).unwrap();
        let tokens = [1u32, 400, 30, 100, 7, 260];
        let table = ck.tensor(Tensor::Embedding).unwrap().unwrap();
        let d = ck.config().dim;
        let input: Vec<f32> = tokens
            .iter()
            .flat_map(|&t| table[t as usize * d..][..d].to_vec())
            .collect();
        let format_of = |t: Tensor| {
            if t.is_linear() {
                Format::Q35
            } else {
                Format::F32
            }
        };
        let e = compare(&ck, &[&format_of], &input, 5, true, &mut |_| {})
            .unwrap()
            .remove(0);
        // Seven matrices per layer and the classifier, each with its weight error.
        assert_eq!(e.matrices.len(), 7 * 5 + 1);
        assert!(e.matrices.iter().all(|(_, m)| m.metrics().rel_error > 0.0));
        let logits = |f: &dyn Fn(Tensor) -> Format| {
            let m = Model::load(&ck, f).unwrap();
            m.forward(&tokens, &mut KvCache::new(&m), None)
        };
        let (r, q) = (logits(&|_| Format::F32), logits(&format_of));
        assert_eq!(e.logits_rel_error, Some(rel_error(&q, &r, &r)));
        assert!(e.update_rel_error > 0.0 && e.update_rel_error < 1.0);
    }

    #[test]
    fn finer_formats_err_less_and_bad_requests_are_errors() {
        let ck = small();
        let input = ck.tensor(Tensor::Embedding).unwrap().unwrap();
        let lane = |f: Format| move |_: Tensor| f;
        let (f16, int8, q35) = (lane(Format::F16), lane(Format::Int8), lane(Format::Q35));
        let all = compare(
            &ck,
            &[&f16, &int8, &q35],
            &input[..4 * 64],
            2,
            false,
            &mut |_| {},
        );
        let one = |f: Format| {
            compare(&ck, &[&lane(f)], &input[..4 * 64], 2, false, &mut |_| {})
                .unwrap()
                .remove(0)
        };
        let e: Vec<f64> = all.unwrap().iter().map(|e| e.update_rel_error).collect();
        assert_eq!(
            one(Format::Int8).update_rel_error,
            e[1],
            "lanes are independent"
        );
        let (f16, int8, q35) = (e[0], e[1], e[2]);
        assert!(0.0 < f16 && f16 < int8 && int8 < q35, "{f16} {int8} {q35}");
        let f32_lane = lane(Format::F32);
        assert!(compare(&ck, &[&f32_lane], &input[..64], 4, false, &mut |_| {}).is_err());
        assert!(compare(&ck, &[&f32_lane], &input[..63], 1, false, &mut |_| {}).is_err());
    }
}
