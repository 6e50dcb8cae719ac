"""The ingest benchmark's corpus: the shipped 4-page bridge report plus generated multi-page reports.

Generated, not committed: ``make_corpus(folder)`` writes the PDFs in about a second with fpdf2 (already a
dev dependency for ``samples/make_samples.py``), deterministically (fixed seed and creation date), so every
run and every machine benchmarks the same bytes.

Why generated reports rather than copies of ``samples/bridge_report.pdf`` under other names: docpipe caches
embeddings by content hash (DynamoDB), so a copy's chunks would be served from the cache after the first
copy was embedded and the pipeline would be measured doing less work than the baseline. Every generated
report has its own bridge, figures and sentence mix, so no two chunks are equal; the benchmark checks that
the pipeline reported no cache hits.

The text is born-digital (a text layer, no OCR), in the style of the shipped report: headings, paragraphs of
inspection prose with numbers, and no personal data (the guard stage would mask it, changing chunk texts).
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "bridge_report.pdf"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
FIXED_DATE = dt.datetime(2025, 10, 6, 9, 0, tzinfo=dt.timezone.utc)
SEED = 20251006

NAMES = ["Alder Creek", "Birchwood", "Cobalt Ferry", "Dunmore", "Eastgate", "Fenwick", "Granite Falls",
         "Hollis Point", "Ironbridge", "Juniper Run", "Kingsmere", "Larkspur", "Millbrook", "Northwater"]
TYPES = ["steel girder", "prestressed concrete box girder", "steel truss", "reinforced concrete arch",
         "cable-stayed", "steel plate girder", "concrete slab"]
ELEMENTS = ["floor beam", "bearing", "expansion joint", "deck slab", "pier cap", "abutment backwall",
            "stringer", "cross frame", "drainage scupper", "parapet", "pile cap", "wingwall", "approach slab",
            "gusset plate", "lower chord", "cable anchorage"]
DEFECTS = ["section loss from corrosion", "a fatigue crack at the connection plate", "spalling with exposed "
           "reinforcement", "efflorescence along a transverse crack", "a seized rocker", "debris packed in the "
           "gland", "delamination found by chain drag", "scour at the upstream nose", "loose anchor bolts",
           "paint failure over most of the surface", "leaking seals and stained concrete below",
           "honeycombing near the construction joint"]
ACTIONS = ["clean and recoat", "replace", "patch with polymer-modified mortar", "jack and reset",
           "install crack-arrest holes and bolted splice plates", "seal the cracks with epoxy injection",
           "place riprap to restore the channel bed", "retighten and monitor", "reconstruct"]
SECTIONS = ["Scope of the inspection", "Deck and wearing surface", "Superstructure", "Bearings and joints",
            "Substructure", "Channel and scour", "Load rating", "Maintenance program", "Costs and phasing",
            "Traffic management", "Monitoring plan", "Recommendations"]
SENTENCES = [
    "The {element} at {location} shows {defect}, measured at {mm} mm over a length of {m} m.",
    "Compared with the {prev} inspection, the condition of the {element} has {trend}.",
    "For an estimated ${cost:,} the {element} should be repaired within {months} months; the method we "
    "recommend: {action}.",
    "The {element} was examined from a {access}, and {pct}% of its surface could be seen at arm's length.",
    "Readings taken on {count} points gave an average of {reading} {unit}, {cmp} the {limit} {unit} limit.",
    "Until the repair is done, the inspection team proposes {interim} as an interim measure.",
    "The work can be staged with one lane open in each direction, over about {weeks} weeks.",
    "A load rating of {rating} for the HL-93 vehicle was computed for the {element}, so no posting is "
    "required.",
    "The rating of the {part} moves from {r1} to {r2} on the 0 to 9 scale of the National Bridge Inventory.",
    "Photographs {p1} to {p2} in the appendix show the {element} before cleaning.",
    "Water from the deck drains onto the {element}, which explains most of the damage ({defect}).",
    "The contractor should submit a method statement for the {element} at least {days} days before work.",
]
LOCATIONS = ["pier {n}", "span {n}", "the north abutment", "the south abutment", "panel point L{n}",
             "girder line {n}", "bent {n}", "the east fascia", "the west fascia", "joint {n}"]


def _sentence(rng: random.Random) -> str:
    template = rng.choice(SENTENCES)
    values = {
        "element": rng.choice(ELEMENTS), "defect": rng.choice(DEFECTS), "action": rng.choice(ACTIONS),
        "location": rng.choice(LOCATIONS).format(n=rng.randint(1, 24)), "mm": rng.randint(2, 90),
        "m": round(rng.uniform(0.2, 14.0), 1), "prev": rng.choice([2019, 2021, 2023]),
        "trend": rng.choice(["declined slightly", "not changed", "worsened markedly", "improved after "
                             "the 2022 repairs"]),
        "months": rng.choice([3, 6, 12, 18, 24, 36]), "cost": rng.randint(12, 2400) * 1000,
        "access": rng.choice(["snooper truck", "boat", "lift", "rope access team", "ladder"]),
        "pct": rng.randint(40, 100), "count": rng.randint(8, 120), "reading": round(rng.uniform(0.1, 9.9), 2),
        "unit": rng.choice(["mm", "kN", "mV", "percent"]), "cmp": rng.choice(["below", "above", "close to"]),
        "limit": round(rng.uniform(1.0, 12.0), 1),
        "interim": rng.choice(["a lane closure", "weekly visual checks", "a 20 t load limit",
                               "temporary shoring", "strain gauges with alarms"]),
        "weeks": rng.randint(2, 30), "rating": round(rng.uniform(0.9, 1.8), 2),
        "part": rng.choice(["deck", "superstructure", "substructure", "channel"]),
        "r1": rng.randint(5, 8), "r2": rng.randint(4, 7), "p1": rng.randint(1, 40), "days": rng.randint(7, 60),
    }
    values["p2"] = values["p1"] + rng.randint(1, 6)
    return template.format(**values)


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))


def report_pdf(index: int, pages: int, rng: random.Random) -> bytes:
    from fpdf import FPDF

    name = NAMES[index % len(NAMES)] + ("" if index < len(NAMES) else f" {index // len(NAMES) + 1}")
    kind = rng.choice(TYPES)
    title = f"{name} Bridge (BR-{1000 + index * 37}) Condition Inspection Report"

    class Report(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("DejaVu", "", 8)
            self.cell(0, 10, f"{title}, page {self.page_no()} of {pages}", align="C")

    pdf = Report(format="Letter", unit="mm")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    pdf.set_creator("docpipe bench/ingest/corpus.py")
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.set_auto_page_break(False)
    sections = rng.sample(SECTIONS, k=len(SECTIONS))
    for page in range(pages):
        pdf.add_page()
        if page == 0:
            pdf.set_font("DejaVu", "B", 16)
            pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 10)
            pdf.multi_cell(0, 5, f"The {name} Bridge is a {kind} bridge of {rng.randint(3, 11)} spans and "
                                 f"{rng.randint(60, 900)} m, built in {rng.randint(1931, 1994)}. Inspected in "
                                 f"{rng.choice(['May', 'June', 'August', 'September'])} 2025.",
                           new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        # fill the page with sections until the next paragraph would not fit (no automatic page breaks:
        # every PDF has exactly `pages` pages)
        for number in range(1, 100):
            heading = f"{page + 1}.{number} {sections[(page * 3 + number) % len(sections)]}"
            text = _paragraph(rng)
            needed = 8 + 5.2 * (len(text) // 95 + 2)
            if pdf.get_y() + needed > pdf.h - 22:
                break
            pdf.set_font("DejaVu", "B", 12)
            pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 10)
            pdf.multi_cell(0, 5.2, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())


def make_corpus(folder: Path, documents: int = 6, pages: int = 6, seed: int = SEED) -> list[Path]:
    """The shipped report plus ``documents - 1`` generated reports of ``pages`` pages each, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "harbor_bridge_report.pdf"]
    shutil.copyfile(SAMPLE, files[0])
    rng = random.Random(seed)
    for index in range(documents - 1):
        path = folder / f"generated_report_{index + 1:02d}.pdf"
        path.write_bytes(report_pdf(index, pages, rng))
        files.append(path)
    return files


def warm_up_document(folder: Path, seed: int = SEED + 1) -> Path:
    """A one-page report unlike the corpus's (another seed): it warms the pipeline without warming its cache."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "warm_up_report.pdf"
    path.write_bytes(report_pdf(0, 1, random.Random(seed)))
    return path


if __name__ == "__main__":
    import sys

    made = make_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "ingest-corpus"))
    print("\n".join(str(p) for p in made))
