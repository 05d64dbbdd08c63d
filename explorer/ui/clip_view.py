"""The Images page's CLIP tab: digits and captions in one space, trained live; zero-shot classification from
prompts the participant writes, its confusion matrix, and several phrasings of the prompts side by side."""

from __future__ import annotations

import streamlit as st

from explorer import training, ui, vision
from explorer.charts import clip as charts
from explorer.ui import chart
from explorer.ui.live_run import LiveRun, curve, figures
from explorer.vision import clip

RUN = "img_clip_run"
STEPS = [training.AUTO, 100, 300, 600, 1000, 1500]
PHRASINGS = clip.prompt_sets()  # ways of writing the ten prompts, compared side by side
FIRST = "the digit 7"
DEFAULTS = {"img_clip_phrasing": FIRST, "img_clip_prompts": "\n".join(PHRASINGS[FIRST])}
LIMITS = {"img_clip_phrasing": list(PHRASINGS)}
LOCAL = {"img_clip_steps": training.AUTO}
SHOWN = 8  # digits (and their captions) in the batch matrix


def _fill_prompts() -> None:
    st.session_state["img_clip_prompts"] = "\n".join(PHRASINGS[st.session_state["img_clip_phrasing"]])


def draw(large: bool) -> None:
    st.markdown(
        "**CLIP** learns from pairs: each digit comes with a caption written from its label (“a handwritten "
        "seven”, “the digit 7”, “someone wrote a seven”…). The image tower (the same small CNN as SimCLR's, "
        "trained from scratch) and the text tower (the bundled sentence encoder, **locked**: only a projection "
        "over its vectors learns, as in LiT) map both into one space; the loss makes each image's own caption "
        "the most similar of the batch, both ways (rows and columns), with a learnt temperature. Then, with no "
        "classifier at all, a digit's class is the prompt it is most similar to: **zero-shot**."
    )
    ui.model_picker("encoder", label="Text tower (sentence encoder)")
    encoder = ui.get_model("encoder", quiet=True)
    if encoder is None:
        st.warning("CLIP's text tower is the sentence encoder, which is not available: pick another one above.")
        return
    slot = LiveRun(RUN, "img_clip")
    run = slot.run
    trained = run is not None and run.step > 0 and run.extra.get("encoder") == encoder.info.model_id
    model = run.model if trained else clip.untrained(clip.text_dim(encoder))
    d = vision.digits()
    with ui.friendly_errors():
        pick = d.test_idx[:SHOWN]
        rows = clip.captions()
        seed = int(st.session_state.get("img_seed", 0))
        caps = [rows[int(d.labels[k])][(i + seed) % len(rows[0])] for i, k in enumerate(pick)]
        sim = clip.pair_similarity(model, d.images[pick], clip.text_features(encoder, caps))
        # the whole width: eight columns of two-decimal cosines do not fit a part of it on a projector
        chart.plotly_chart(charts.pair_matrix(sim, d.labels[pick], caps, large=large), key="img_clip_pairs")
        st.markdown(
            f"{SHOWN} held-out digits and a caption of each. The loss treats the boxed diagonal as the right "
            "answers; a caption of another digit of the same class is also a fair match, and CLIP's loss does "
            "not know it (in a batch of 128 digits, about 13 share a class)."
        )
        st.caption(
            f"Model: {'after ' + str(run.step) + ' steps of CLIP' if trained else 'untrained'}; temperature "
            f"{model.temperature():.3f} (CLIP starts at 0.07 and learns it)."
        )
    st.subheader("Train CLIP")
    steps = st.selectbox("Steps", STEPS, key="img_clip_steps")
    plan = vision.vision_plan("clip", steps=steps)
    signature = ("clip", plan.steps, encoder.info.model_id)
    running = slot.controls(
        signature,
        lambda: vision.clip_run(plan, encoder, seed=0),
        plan.steps,
        preparing="Reading the captions with the sentence encoder…",
        start_label="Start CLIP training",
    )

    def _draw(r: training.Run) -> None:
        (fig,) = figures(
            r, lambda: (charts.clip_loss_curves(r.trainer.history, plan.batch, target=r.target, large=large),), large
        )
        curve(r, fig, key="img_clip_chart")

    slot.live(running, _draw, signature)
    st.subheader("Zero-shot: the classes as words")
    if running:
        st.info("Zero-shot reads the trained model: let the run finish or press Stop.")
        return
    if not trained:
        st.info(
            "Untrained, the image tower gives every digit nearly the same vector, so zero-shot is near chance "
            "(10%). Train CLIP above first."
        )
    c1, c2 = ui.columns([2, 3])
    c1.selectbox(
        "Start from (named by the prompt for 7)",
        list(PHRASINGS),
        key="img_clip_phrasing",
        on_change=_fill_prompts,
        help="Fills the ten prompts.",
    )
    c1.caption(
        "Edit any line: one prompt per class, line 1 for 0 … line 10 for 9. The captions only ever said "
        "“seven” or “7”: try ordinals (“seventh”), French, or line 8 as “the number after six”, and watch "
        "where the sevens go in the matrix."
    )
    ui.limited_text(
        "The ten prompts",
        key="img_clip_prompts",
        what="prompts",
        height=250,
        max_chars=len(clip.WORDS) * (clip.MAX_PROMPT_CHARS + 1),
        container=c2,
    )
    with ui.friendly_errors():
        texts = clip.check_prompts(st.session_state["img_clip_prompts"].splitlines())
        test = d.test_idx
        zs = clip.zero_shot(model, clip.text_features(encoder, texts), d.images[test], d.labels[test], texts)
        m1, m2 = ui.columns(2)
        m1.metric("Zero-shot accuracy on the held-out digits", f"{zs.accuracy:.1%}", help="Chance: 10%.")
        per_class = zs.confusion().diagonal() / zs.confusion().sum(1).clip(min=1)
        worst = int(per_class.argmin())
        m2.metric(f"Worst class: {worst}", f"{per_class[worst]:.0%}", help=f"Its prompt: “{texts[worst]}”.")
        chart.plotly_chart(charts.confusion(zs.confusion(), texts, large=large), key="img_clip_confusion")
        key = ("clip_phrasings", run.step if trained else 0, encoder.info.model_id)
        store = run.extra if trained else st.session_state
        if store.get("_phrasings_key") != key:
            store["_phrasings"] = {
                name: clip.zero_shot(model, clip.text_features(encoder, p), d.images[test], d.labels[test]).accuracy
                for name, p in PHRASINGS.items()
            }
            store["_phrasings_key"] = key
        bars = dict(store["_phrasings"])
        bars["your ten prompts"] = zs.accuracy
        chart.plotly_chart(charts.prompt_bars(bars, large=large), key="img_clip_phrasings")
        _your_image(model, encoder, texts, large)


def _your_image(model, encoder, texts: list[str], large: bool) -> None:
    """Zero-shot on an uploaded image (a dark digit on light paper, or a light one on dark), with the ten prompts."""
    up = st.file_uploader(
        "Your own digit: an image (PNG, JPEG…), classified by the ten prompts",
        key="img_clip_upload",
        max_upload_size=max(1, vision.MAX_IMAGE_BYTES // 1_000_000),
    )
    if up is None:
        return
    with ui.friendly_errors():
        img = vision.read_image(up.getvalue(), size=vision.DIGIT_SIZE)
        ui.notes(img.notes)
        zs = clip.zero_shot(model, clip.text_features(encoder, texts), img.pixels[None], prompt_texts=texts)
        chart.plotly_chart(charts.prompt_probabilities(zs.probabilities[0], texts, large=large), key="img_clip_yours")
        st.caption(
            f"Read as {vision.DIGIT_SIZE}×{vision.DIGIT_SIZE} pixels, as the training digits are "
            f"({img.original_size[0]}×{img.original_size[1]} {img.original_mode} before). Closest prompt: "
            f"“{texts[int(zs.predicted[0])]}”."
        )
