// check_keras_tfjs.mjs — the model file read by a real Keras implementation:
// TensorFlow.js's layers API (tfjs-layers, a port of Keras), on its pure
// JavaScript CPU backend, the HDF5 file read with h5wasm. Test code only.
//
// What it does, the way Keras and TensorFlow's own .h5 converter do it:
//  1. builds the model from the root attribute `model_config` exactly as
//     stored (tf.models.modelFromJSON: Keras's Sequential deserialization);
//  2. loads the weights by Keras's rules (legacy hdf5_format.py's
//     load_weights_from_hdf5_group): the layers with weights, in the order of
//     /model_weights' `layer_names`, each given its datasets in the order of
//     its `weight_names`, shapes and dtypes checked against the layer's own
//     variables;
//  3. loads them a second time by name, as tensorflowjs_converter hands an .h5
//     file to tfjs (weight specs named "<layer>/<weight>" from `weight_names`,
//     tf.loadLayersModel with strict name matching), with the stored
//     `training_config` applied (LayersModel.loadTrainingConfig, i.e. compile);
//     both loads must give the same weights, bit for bit;
//  4. predicts the first N MNIST test images (N = the report's test.count,
//     raw IDX files, pixels / 255) and requires the program's own report: the
//     same accuracy, the same confusion matrix, the same mean cross-entropy to
//     1e-5; with a training_config, tfjs's model.evaluate (its own loss and
//     metric from that config) must give the figures of those predictions
//     (on the first 100 images: the pure JavaScript backend is slow).
//
// usage: node check_keras_tfjs.mjs MODEL.h5 REPORT.json MNIST_DIR [--require-training-config]
// Exit status 0 when everything holds, 1 otherwise (the reason on stdout).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import h5wasm from "h5wasm/node";

const require = createRequire(import.meta.url);
const tf = require("@tensorflow/tfjs-core");
require("@tensorflow/tfjs-backend-cpu");
const tfl = require("@tensorflow/tfjs-layers");

const LOSS_TOLERANCE = 1e-5;

class CheckError extends Error {}
function require_(cond, msg) {
  if (!cond) throw new CheckError(msg);
}
const ok = (msg) => console.log("ok   " + msg);

// An attribute as h5py/Keras would see it: strings, or a list of them.
function attr(obj, name) {
  require_(obj.attrs[name] !== undefined, `attribute '${name}' missing on ${obj.path}`);
  return obj.attrs[name].value;
}
function stringList(obj, name) {
  const v = attr(obj, name);
  if (typeof v === "string") return [v];
  // Keras writes an empty name list as np.asarray([]): a float64 array of shape (0,).
  return Array.from(v ?? [], (s) => {
    require_(typeof s === "string", `attribute '${name}' on ${obj.path} is not a list of strings`);
    return s;
  });
}

// [{layer, names: [...], datasets: [{name, shape, dtype, values}]}], in layer_names order.
function readStoredWeights(file) {
  const mw = file.get("model_weights");
  require_(mw, "no /model_weights group");
  const layers = [];
  for (const lname of stringList(mw, "layer_names")) {
    const g = mw.get(lname);
    require_(g, `no group /model_weights/${lname}`);
    const names = stringList(g, "weight_names");
    const datasets = names.map((wname) => {
      const ds = g.get(wname);
      require_(ds && ds.shape, `layer '${lname}' lacks dataset '${wname}'`);
      require_(ds.metadata.type === 1 && ds.metadata.size === 4 && ds.metadata.littleEndian,
               `${lname}/${wname} is not little-endian float32 (dtype ${ds.dtype})`);
      return { name: wname, shape: ds.shape, values: Float32Array.from(ds.value) };
    });
    layers.push({ layer: lname, names, datasets });
  }
  return layers;
}

function sameShape(a, b) {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// Keras's load_weights_from_hdf5_group: by order.
function loadByOrder(model, stored) {
  const withWeights = model.layers.filter((l) => l.weights.length > 0);
  const storedWithWeights = stored.filter((s) => s.datasets.length > 0);
  require_(withWeights.length === storedWithWeights.length,
           `the file has ${storedWithWeights.length} layers with weights, the model ${withWeights.length}`);
  withWeights.forEach((layer, k) => {
    const s = storedWithWeights[k];
    require_(layer.name === s.layer, `layer ${k} with weights is '${s.layer}' in the file, '${layer.name}' in the model`);
    require_(layer.weights.length === s.datasets.length,
             `layer '${layer.name}' expects ${layer.weights.length} weights, the file has ${s.datasets.length}`);
    const tensors = layer.weights.map((v, i) => {
      const d = s.datasets[i];
      require_(v.dtype === "float32", `${v.originalName} is ${v.dtype} in the model`);
      require_(sameShape(v.shape, d.shape),
               `${d.name}: shape [${d.shape}] in the file, the layer's ${v.originalName} is [${v.shape}]`);
      return tf.tensor(d.values, d.shape, "float32");
    });
    layer.setWeights(tensors);
    tf.dispose(tensors);
  });
  ok(`weights loaded by order: ${withWeights.length} layers, shapes and dtypes match`);
}

// tensorflowjs_converter's hand-over: weight specs by name, then tf.loadLayersModel (strict).
async function loadByName(topology, stored, trainingConfig) {
  const weightSpecs = [];
  const chunks = [];
  for (const s of stored)
    for (const d of s.datasets) {
      weightSpecs.push({ name: d.name.replace(/:0$/, ""), shape: d.shape, dtype: "float32" });
      chunks.push(d.values);
    }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const data = new Float32Array(total);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  const artifacts = { modelTopology: topology, weightSpecs, weightData: data.buffer };
  if (trainingConfig) artifacts.trainingConfig = trainingConfig;
  const model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts), { strict: true });
  ok(`weights loaded by name (${weightSpecs.length} tensors, strict)` +
     (trainingConfig ? `, training_config applied: optimizer ${model.optimizer.getClassName()}, loss ${model.loss}` : ""));
  return model;
}

function sameWeights(a, b) {
  const wa = a.getWeights(), wb = b.getWeights();
  require_(wa.length === wb.length, "the two loads give different numbers of weights");
  wa.forEach((t, i) => {
    const x = t.dataSync(), y = wb[i].dataSync();
    require_(x.length === y.length && x.every((v, j) => Object.is(v, y[j])),
             `weight ${i} (${a.weights[i].originalName}) differs between the loads by order and by name`);
  });
  ok(`the loads by order and by name agree on all ${wa.length} weights`);
}

function readIdx(file, magic, dims) {
  const b = fs.readFileSync(file);
  require_(b.readUInt32BE(0) === magic, `${file}: bad IDX magic`);
  const shape = Array.from({ length: dims }, (_, i) => b.readUInt32BE(4 + 4 * i));
  const data = b.subarray(4 + 4 * dims);
  require_(data.length === shape.reduce((p, d) => p * d, 1), `${file}: size does not match its header`);
  return { shape, data };
}

// Predictions of the first n test images: probabilities, in batches.
function predict(model, images, n) {
  const pixels = 28 * 28, batch = 100, probs = [];
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const x = new Float32Array(count * pixels);
    for (let i = 0; i < x.length; ++i) x[i] = images.data[start * pixels + i] / 255;
    const out = tf.tidy(() => model.predict(tf.tensor4d(x, [count, 28, 28, 1])).dataSync());
    for (let i = 0; i < count; ++i) probs.push(out.slice(i * 10, i * 10 + 10));
  }
  return probs;
}

function compareWithReport(probs, labels, test) {
  const n = probs.length;
  const confusion = Array.from({ length: 10 }, () => new Array(10).fill(0));
  let correct = 0, loss = 0;
  probs.forEach((p, i) => {
    let best = 0;
    for (let k = 1; k < 10; ++k) if (p[k] > p[best]) best = k;
    const y = labels.data[i];
    confusion[y][best] += 1;
    correct += best === y ? 1 : 0;
    loss -= Math.log(p[y]);
  });
  loss /= n;
  const accuracy = correct / n;
  console.log(`tfjs: accuracy ${accuracy} (${correct}/${n}), loss ${loss.toFixed(8)}; ` +
              `report: accuracy ${test.accuracy}, loss ${test.loss.toFixed(8)}`);
  require_(Math.abs(accuracy - test.accuracy) < 0.5 / n, `accuracy ${accuracy} differs from the report's ${test.accuracy}`);
  ok("accuracy equals the report's");
  require_(JSON.stringify(confusion) === JSON.stringify(test.confusion_matrix),
           `confusion matrix differs from the report's:\n${JSON.stringify(confusion)}\n${JSON.stringify(test.confusion_matrix)}`);
  ok("confusion matrix equals the report's");
  require_(Math.abs(loss - test.loss) <= LOSS_TOLERANCE, `loss ${loss} differs from the report's ${test.loss} by more than ${LOSS_TOLERANCE}`);
  ok(`loss equals the report's within ${LOSS_TOLERANCE}`);
}

// tfjs's own loss and metric, as the training_config compiled them, on the
// first `m` images (the CPU backend is slow): they must equal the accuracy and
// mean cross-entropy of the predictions above on the same images.
function evaluateCompiled(model, images, labels, probs, m) {
  const pixels = 28 * 28;
  const x = new Float32Array(m * pixels);
  for (let i = 0; i < x.length; ++i) x[i] = images.data[i] / 255;
  const y = Float32Array.from(labels.data.subarray(0, m));
  let correct = 0, want = 0;
  for (let i = 0; i < m; ++i) {
    const p = probs[i];
    correct += p.indexOf(Math.max(...p)) === labels.data[i] ? 1 : 0;
    want -= Math.log(p[labels.data[i]]);
  }
  want /= m;
  const [loss, acc] = tf.tidy(() =>
      model.evaluate(tf.tensor4d(x, [m, 28, 28, 1]), tf.tensor1d(y), { batchSize: 100 }).map((t) => t.dataSync()[0]));
  console.log(`tfjs model.evaluate on the first ${m} images: loss ${loss.toFixed(8)}, accuracy ${acc}; ` +
              `from the predictions: loss ${want.toFixed(8)}, accuracy ${correct / m}`);
  require_(Math.abs(acc - correct / m) < 0.5 / m, `evaluate's accuracy ${acc} differs from the predictions' ${correct / m}`);
  require_(Math.abs(loss - want) <= LOSS_TOLERANCE, `evaluate's loss ${loss} differs from the predictions' ${want}`);
  ok("the model compiled from training_config evaluates to the same accuracy and loss");
}

async function main() {
  const args = process.argv.slice(2);
  const requireTrainingConfig = args.includes("--require-training-config");
  const [modelPath, reportPath, mnistDir] = args.filter((a) => !a.startsWith("--"));
  if (!mnistDir) {
    console.log("usage: node check_keras_tfjs.mjs MODEL.h5 REPORT.json MNIST_DIR [--require-training-config]");
    return 2;
  }
  await tf.setBackend("cpu");
  await h5wasm.ready;
  const report = JSON.parse(fs.readFileSync(reportPath, "utf8"));
  const test = report.test;
  const file = new h5wasm.File(path.resolve(modelPath), "r");
  try {
    require_(file.attrs.keras_version && file.attrs.backend, "root attributes keras_version/backend missing");
    const topology = JSON.parse(attr(file, "model_config"));  // as stored: never patched
    let trainingConfig = null;
    if (file.attrs.training_config !== undefined) trainingConfig = JSON.parse(attr(file, "training_config"));
    require_(trainingConfig || !requireTrainingConfig, "no training_config in the file");
    const stored = readStoredWeights(file);
    const model = await tfl.models.modelFromJSON({ modelTopology: topology });
    ok(`model built from model_config: ${model.layers.length} layers, input [${model.inputs[0].shape}], ` +
       `output [${model.outputs[0].shape}]`);
    loadByOrder(model, stored);
    const named = await loadByName(topology, stored, trainingConfig);
    sameWeights(model, named);

    const images = readIdx(path.join(mnistDir, "t10k-images-idx3-ubyte"), 0x803, 3);
    const labels = readIdx(path.join(mnistDir, "t10k-labels-idx1-ubyte"), 0x801, 1);
    require_(test.count > 0 && test.count <= labels.shape[0], `report's test.count ${test.count} is not usable`);
    const probs = predict(model, images, test.count);
    compareWithReport(probs, labels, test);
    if (trainingConfig) evaluateCompiled(named, images, labels, probs, Math.min(100, test.count));
  } finally {
    file.close();
  }
  return 0;
}

main().then(
  (rc) => process.exit(rc),
  (e) => {
    console.log("FAIL " + (e instanceof CheckError ? e.message : e.stack || e));
    process.exit(1);
  });
