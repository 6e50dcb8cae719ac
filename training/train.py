"""The fine-tuning entry point SageMaker runs (script mode), on Trainium and, offline, on CPU.

SageMaker lays out the container as ``/opt/ml``: channels under ``SM_CHANNEL_<NAME>`` (``train``,
``validation``: JSONL in chat ``messages`` or ``prompt``/``completion`` form), the model directory
``SM_MODEL_DIR`` (tarred to ``model.tar.gz``), ``SM_OUTPUT_DATA_DIR`` (``output.tar.gz``), hyperparameters
as ``--name value`` arguments (and ``SM_HPS``), and checkpoints in ``/opt/ml/checkpoints``, synced to the
job's ``CheckpointConfig.S3Uri`` — a restarted job (managed spot, or a retry) finds them there again and
resumes from the newest complete one.

It trains a LoRA adapter (PEFT) on a small causal LM (SmolLM2-135M-Instruct by default): on Trainium
with optimum-neuron's ``NeuronTrainer`` (XLA device), elsewhere with transformers' ``Trainer`` — the only
difference is the import. Metrics go to the log as ``name=value`` lines that the job's MetricDefinitions
match, and to ``metrics.json`` (model and output directories).

Offline, the docpipe runtime runs this same file in a subprocess with the same layout; the base model then
comes from a local GGUF file (``DOCPIPE_BASE_MODEL_GGUF``), converted once to safetensors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

import torch

try:  # Trainium: optimum-neuron (same transformers/peft/accelerate pins as requirements.txt)
    from optimum.neuron import NeuronTrainer as Trainer  # type: ignore
    from optimum.neuron import NeuronTrainingArguments as TrainingArguments  # type: ignore
    BACKEND = "neuron"
except ImportError:
    from transformers import Trainer, TrainingArguments
    BACKEND = "cpu" if not torch.cuda.is_available() else "cuda"

from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

DEFAULT_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
CHECKPOINT_DIR = "/opt/ml/checkpoints"


def log(message: str) -> None:
    print(message, flush=True)


# --- arguments ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_id", default=DEFAULT_MODEL_ID)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--max_steps", type=int, default=-1)
    parser.add_argument("--learning_rate", type=float, default=5e-3)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--max_seq_length", type=int, default=96)
    parser.add_argument("--lora_r", type=int, default=8)
    parser.add_argument("--lora_alpha", type=int, default=16)
    parser.add_argument("--lora_dropout", type=float, default=0.0)
    parser.add_argument("--lora_target_modules", default="q_proj,k_proj,v_proj,o_proj")
    parser.add_argument("--save_steps", type=int, default=3)
    parser.add_argument("--eval_steps", type=int, default=0, help="0: evaluate at the end of each epoch")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--step_delay_seconds", type=float, default=0.0,
                        help="sleep after each step (tests use it to stop a job mid-way)")
    parser.add_argument("--threads", type=int, default=0)
    # SageMaker's own hyperparameters (sagemaker_program, sagemaker_submit_directory, ...) are ignored
    args, unknown = parser.parse_known_args(argv)
    ignored = [item for item in unknown if item.startswith("--") and not item.startswith("--sagemaker_")]
    if ignored:
        log(f"ignoring unknown hyperparameters: {' '.join(ignored)}")
    return args


def sm_paths() -> dict[str, Path]:
    return {
        "train": Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
        "validation": Path(os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation")),
        "model": Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model")),
        "output": Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
        "checkpoints": Path(os.environ.get("SM_CHECKPOINT_DIR", CHECKPOINT_DIR)),
    }


# --- data -----------------------------------------------------------------------------------------------
def read_rows(channel: Path) -> list[dict]:
    files = sorted(channel.glob("*.jsonl")) if channel.is_dir() else [channel]
    rows = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    if not rows:
        raise SystemExit(f"channel {channel} holds no rows")
    return rows


def to_messages(row: dict) -> list[dict]:
    if "messages" in row:
        return row["messages"]
    return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]


def encode(tokenizer, row: dict, max_length: int) -> dict:
    """Fixed-length examples (static shapes for the XLA compiler); loss on the assistant's answer only."""
    messages = to_messages(row)
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=True)
    if hasattr(prompt, "input_ids"):  # some versions return a BatchEncoding
        prompt, full = prompt["input_ids"], full["input_ids"]
    full = list(full)[:max_length]
    labels = [-100] * min(len(prompt), len(full)) + full[len(prompt):]
    pad = max_length - len(full)
    return {
        "input_ids": torch.tensor(full + [tokenizer.pad_token_id] * pad),
        "attention_mask": torch.tensor([1] * len(full) + [0] * pad),
        "labels": torch.tensor(labels + [-100] * pad),
    }


# --- the base model ---------------------------------------------------------------------------------------
def base_model_dir(args: argparse.Namespace) -> str:
    """A model channel if the job has one, else (offline) a local GGUF converted once, else the Hub id."""
    channel = os.environ.get("SM_CHANNEL_MODEL")
    if channel:
        return channel
    gguf = os.environ.get("DOCPIPE_BASE_MODEL_GGUF")
    if gguf:
        return convert_gguf(Path(gguf), Path(os.environ.get("DOCPIPE_TRAINING_CACHE", Path(gguf).parent)))
    return args.model_id


def convert_gguf(gguf: Path, cache: Path) -> str:
    """GGUF -> float32 safetensors, once (transformers de-quantizes GGUF tensors when it loads them)."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache / f"{gguf.stem}-{key}"
    if (target / "config.json").exists():
        return str(target)
    from transformers.quantizers import auto as _  # noqa: F401  (imports the GGUF integration)
    try:
        from transformers.utils.quantization_config import QuantizationMethod  # noqa: F401
    except ImportError:
        pass
    log(f"converting {gguf.name} to safetensors (once)")
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _remove_quantization_config(model)
    # special tokens as the GGUF header declares them
    header = _gguf_special_tokens(gguf)
    for name, token_id in header.items():
        setattr(tokenizer, f"{name}_token", tokenizer.convert_ids_to_tokens(token_id))
        setattr(model.config, f"{name}_token_id", token_id)
        if model.generation_config is not None:
            setattr(model.generation_config, f"{name}_token_id", token_id)
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    os.replace(partial, target) if not target.exists() else None
    return str(target)


def _remove_quantization_config(model) -> None:
    """A GGUF-loaded model is marked quantized; Trainer and save_pretrained refuse it unless unmarked."""
    try:
        from transformers.integrations import remove_quantization_config  # type: ignore
        remove_quantization_config(model)
        return
    except ImportError:
        pass
    for attribute in ("hf_quantizer", "quantization_method", "is_quantized"):
        if hasattr(model, attribute):
            try:
                delattr(model, attribute)
            except AttributeError:
                setattr(model, attribute, None if attribute != "is_quantized" else False)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _gguf_special_tokens(gguf: Path) -> dict[str, int]:
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    found = {}
    for name in ("bos", "eos", "padding"):
        field = reader.fields.get(f"tokenizer.ggml.{name}_token_id")
        if field is not None:
            found["pad" if name == "padding" else name] = int(field.parts[field.data[0]][0])
    found.setdefault("pad", found.get("eos", 0))
    return found


# --- checkpoints ------------------------------------------------------------------------------------------
def latest_checkpoint(directory: Path) -> Path | None:
    """The newest checkpoint that was written completely (Trainer writes trainer_state.json last)."""
    done = [path for path in directory.glob("checkpoint-*") if (path / "trainer_state.json").exists()
            and re.fullmatch(r"checkpoint-\d+", path.name)]
    return max(done, key=lambda path: int(path.name.split("-")[1]), default=None)


class MetricLines(TrainerCallback):
    """One ``name=value`` line per logged metric: what the job's MetricDefinitions regexes match."""

    def __init__(self, delay: float):
        self.delay = delay
        self.last_eval: tuple[int, float] | None = None  # (step, eval_loss)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        values = {key: value for key, value in logs.items() if isinstance(value, (int, float))}
        if "eval_loss" in values:
            self.last_eval = (state.global_step, float(values["eval_loss"]))
        log(" ".join([f"step={state.global_step}"] + [f"{k}={v:.6g}" for k, v in values.items()]))

    def on_step_end(self, args, state, control, **kwargs):
        if self.delay:
            time.sleep(self.delay)

    def on_save(self, args, state, control, **kwargs):
        log(f"checkpoint saved step={state.global_step}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = sm_paths()
    for key in ("model", "output", "checkpoints"):
        paths[key].mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    from peft import LoraConfig, get_peft_model

    model_dir = base_model_dir(args)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lora = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                      target_modules=[m.strip() for m in args.lora_target_modules.split(",") if m.strip()],
                      task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"backend={BACKEND} base={Path(model_dir).name} trainable_parameters={trainable}")

    train = [encode(tokenizer, row, args.max_seq_length) for row in read_rows(paths["train"])]
    validation = [encode(tokenizer, row, args.max_seq_length) for row in read_rows(paths["validation"])]
    log(f"train_rows={len(train)} validation_rows={len(validation)}")
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    training_args = TrainingArguments(
        output_dir=str(paths["checkpoints"]), num_train_epochs=args.epochs, max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=args.batch_size,
        learning_rate=args.learning_rate, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        logging_steps=1, eval_strategy="steps", eval_steps=args.eval_steps or steps_per_epoch,
        save_strategy="steps", save_steps=args.save_steps, save_total_limit=2, seed=args.seed,
        report_to=[], disable_tqdm=True, dataloader_num_workers=0, remove_unused_columns=False,
        use_cpu=BACKEND == "cpu",
    )
    lines = MetricLines(args.step_delay_seconds)
    trainer = Trainer(model=model, args=training_args, train_dataset=train, eval_dataset=validation,
                      callbacks=[lines])

    # The loss before any training, on the held-out set: kept with the checkpoints so a resumed job
    # reports the same baseline.
    baseline_file = paths["checkpoints"] / "baseline.json"
    resume = latest_checkpoint(paths["checkpoints"])
    if resume is not None and baseline_file.exists():
        initial = json.loads(baseline_file.read_text())["initial_eval_loss"]
        log(f"resuming from {resume.name}")
    else:
        resume = None
        initial = trainer.evaluate()["eval_loss"]
        baseline_file.write_text(json.dumps({"initial_eval_loss": initial}))
    log(f"initial_eval_loss={initial:.6g}")
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if lines.last_eval and lines.last_eval[0] == trainer.state.global_step:
        final = lines.last_eval[1]  # the last step was just evaluated
    else:
        final = trainer.evaluate()["eval_loss"]
    log(f"final_eval_loss={final:.6g}")
    improvement = (initial - final) / initial if initial else 0.0
    log(f"eval_loss_improvement={improvement:.6g}")

    model.save_pretrained(paths["model"])  # the LoRA adapter: adapter_config.json + adapter_model.safetensors
    tokenizer.save_pretrained(paths["model"])
    metrics = {
        "backend": BACKEND, "base_model": args.model_id, "initial_eval_loss": initial, "final_eval_loss": final,
        "eval_loss_improvement": improvement, "train_loss": result.training_loss,
        "global_step": trainer.state.global_step, "epochs": trainer.state.epoch,
        "resumed_from": resume.name if resume else None, "train_rows": len(train),
        "validation_rows": len(validation), "train_seconds": round(time.monotonic() - started, 2),
        "validation_sha256": _channel_sha256(paths["validation"]),
        "hyperparameters": {k: v for k, v in vars(args).items()},
    }
    for directory in (paths["model"], paths["output"]):
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log("training complete")
    return 0


def _channel_sha256(channel: Path) -> str:
    digest = hashlib.sha256()
    for path in (sorted(channel.glob("*.jsonl")) if channel.is_dir() else [channel]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
