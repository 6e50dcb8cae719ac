"""Generate the sample corpus in samples/: one coherent story in several document formats.

Every file tells part of the same fictional story: the City of Port Merrow's 2025 inspection of the
Harbor Bridge (bridge PM-0417) and the $9.1 million maintenance program that followed. The same names,
dates, numbers and costs appear throughout, so that summaries, questions and translations of any one file
can be checked against the others.

    python3 samples/make_samples.py            # rewrite every sample in samples/
    python3 samples/make_samples.py --out DIR  # write them somewhere else

The output is deterministic (fixed seeds, fixed dates, fixed zip timestamps): running the script twice
gives byte-identical files. It needs fpdf2==2.8.9, python-docx==1.2.0, Pillow and numpy, and the DejaVu
fonts of Debian's fonts-dejavu-core (/usr/share/fonts/truetype/dejavu).

Files (ground truth for every scanned or photographed page sits beside it as .txt):
    bridge_report.pdf       born-digital 4-page inspection report (text layer)
    scanned_letter.pdf/.txt 2-page consultant letter, image-only pages (300 dpi, noise, < 1 degree skew)
    scanned_notice.pdf/.txt 1-page public notice, image-only
    site_photo.png/.txt     photo-like picture of a notice taped to a wall (texture, rotation, blur)
    maintenance_memo.docx   internal memo with headings, paragraphs and a table
    inspection_notes.txt    the inspectors' field notes
    faq.md                  public questions and answers
    press_release.html      the city's press release
    bad/                    hostile or broken inputs: empty.pdf, encrypted.pdf, truncated.pdf,
                            png_named.pdf (PNG bytes behind a .pdf name), bomb.png (decompression bomb)
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import struct
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SANS = FONT_DIR / "DejaVuSans.ttf"
SANS_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
SERIF = FONT_DIR / "DejaVuSerif.ttf"
SERIF_BOLD = FONT_DIR / "DejaVuSerif-Bold.ttf"

FIXED_DATE = dt.datetime(2025, 11, 17, 9, 0, 0, tzinfo=dt.timezone.utc)
ZIP_DATE = (2025, 11, 17, 9, 0, 0)

# --------------------------------------------------------------------------------------------------
# The story. Facts used below (keep them consistent when editing):
#   Harbor Bridge, bridge PM-0417, opened 1964, 412 m long, steel tied-arch main span of 186 m, concrete
#   approaches, carries Harbor Avenue (State Route 31, four lanes + sidewalk) over the Merrow Channel,
#   31,400 vehicles a day (6 percent trucks).
#   2025 biennial inspection 8-19 September 2025 by Kestrel Engineering Group, team leader Dana Okafor,
#   P.E.; contract PW-2025-117 ($186,500). City: Marisol Grant (Director of Public Works), Tomas Lindqvist,
#   P.E. (Bridge Division Manager). Hotline (555) 014-2290, bridges@portmerrow.example.
#   Ratings 2025 (2023): deck 5 (6), superstructure 5 (6), substructure 6 (6), channel 6 (6).
#   F-1 38 mm fatigue crack, floor beam FB-14, north connection plate; lane closed 25 Sep - 3 Oct 2025,
#       crack-arrest holes drilled 3 October 2025, $48,000.
#   F-2 Pier 2 bearings frozen, up to 22 percent section loss on girder G3 bottom flange; 4 bearings,
#       $1,350,000, March - June 2026.
#   F-3 South abutment expansion joint, torn seal over 11 m; $620,000, July - August 2026.
#   F-4 Deck delamination on 7.5 percent of 8,446 m2 (about 633 m2); overlay $2,900,000, April - Sept 2027.
#   F-5 Scour 1.2 m at the upstream nose of Pier 3 (dive 16 September); riprap $780,000, Sept - Oct 2026.
#   F-6 Coating breakdown 35 percent in zone 2 (arch ribs); repaint $3,400,000, May - October 2028.
#   Total $9,098,000 = state Bridge Investment Program grant $4,200,000 + city capital fund $4,898,000.
#   Night closures for ultrasonic testing 6-17 October 2025, 9 p.m. - 5 a.m., Sunday to Thursday nights.
#   Council vote 17 November 2025 (7-0). Next routine inspection September 2027.
# --------------------------------------------------------------------------------------------------

REPORT_TITLE = "Harbor Bridge (PM-0417) 2025 Biennial Inspection Report"

REPORT_PAGES: list[list[tuple[str, str]]] = [
    [
        ("title", REPORT_TITLE),
        ("meta", "City of Port Merrow, Department of Public Works, Bridge Division. Prepared by Kestrel "
                 "Engineering Group under contract PW-2025-117. Report date: 6 October 2025."),
        ("h1", "Executive summary"),
        ("p", "The Harbor Bridge was inspected from 8 to 19 September 2025 by a five-person team led by "
              "Dana Okafor, P.E. The bridge remains open to all legal loads and no load posting is "
              "required. However, its condition has declined since the 2023 inspection: the deck and "
              "superstructure ratings dropped from 6 (satisfactory) to 5 (fair), while the substructure "
              "and channel remain at 6."),
        ("p", "The most serious finding is a 38 mm fatigue crack in the web of floor beam FB-14 at the "
              "north connection plate. The northbound curb lane was closed on 25 September 2025 as an "
              "interim measure, and crack-arrest holes were drilled on 3 October 2025 at a cost of "
              "$48,000. The lane has since reopened."),
        ("p", "Six findings need repair within the next three years. Their estimated cost totals "
              "$9,098,000, which we recommend be scheduled as a five-phase maintenance program from "
              "2025 to 2028. The next routine inspection is due in September 2027."),
        ("h1", "1. Introduction"),
        ("p", "This report documents the biennial safety inspection required for every public highway "
              "bridge longer than 6 m. It records the condition ratings on the 0 to 9 scale of the "
              "National Bridge Inventory, describes each deficiency found, and estimates the cost of the "
              "work needed to correct it. Photographs and sketches are kept in the inspection file."),
    ],
    [
        ("h1", "2. Description of the structure"),
        ("p", "The Harbor Bridge opened in 1964 and carries Harbor Avenue (State Route 31) over the Merrow "
              "Channel. It is 412 m long and 20.5 m wide, with four traffic lanes and a sidewalk on the "
              "west side. The main span is a steel tied arch of 186 m; the approaches are continuous "
              "concrete spans on reinforced concrete piers. Piers 2 and 3 stand in the channel."),
        ("p", "The bridge carries an average of 31,400 vehicles a day, of which 6 percent are trucks. It "
              "is the only crossing of the channel within 9 km and is a designated emergency route "
              "between the port and Merrow General Hospital."),
        ("h1", "3. Inspection methods"),
        ("p", "The team inspected every member within arm's length using an under-bridge inspection "
              "vehicle and rope access on the arch ribs. The deck was sounded with chain drags and "
              "hammers, and delaminated areas were marked and measured. A dive team inspected Piers 2 "
              "and 3 below the waterline on 16 September 2025 and measured the channel bed with a "
              "sounding pole at 2 m intervals around each pier."),
        ("p", "Cracks were confirmed by dye-penetrant testing. Ultrasonic testing of the remaining floor "
              "beams is scheduled during night lane closures from 6 to 17 October 2025, from 9 p.m. to "
              "5 a.m., Sunday to Thursday nights, with one lane open in each direction."),
        ("h2", "Condition ratings"),
        ("p", "Deck: 5 (fair), previously 6. Superstructure: 5 (fair), previously 6. Substructure: 6 "
              "(satisfactory), unchanged. Channel and channel protection: 6 (satisfactory), unchanged."),
    ],
    [
        ("h1", "4. Findings"),
        ("p", "F-1, floor beam FB-14 (urgent). A 38 mm fatigue crack runs vertically in the web at the "
              "north connection plate. Crack-arrest holes of 25 mm diameter were drilled at both tips on "
              "3 October 2025 ($48,000). The crack must be monitored every three months."),
        ("p", "F-2, Pier 2 bearings (high). All four bearings are frozen by corrosion and no longer allow "
              "thermal movement. The bottom flange of girder G3 has lost up to 22 percent of its section "
              "next to the bearing. The bearings should be replaced and the flange strengthened."),
        ("p", "F-3, south abutment expansion joint (high). The strip seal is torn over 11 m and water runs "
              "onto the bearing seat, which accelerates the corrosion found under F-2."),
        ("p", "F-4, deck (medium). Sounding found delamination on 7.5 percent of the 8,446 square metre "
              "deck, about 633 square metres, mostly in the northbound wheel paths. A concrete overlay is "
              "recommended before the damage spreads to the reinforcement."),
        ("p", "F-5, Pier 3 scour (high). The channel bed at the upstream nose of Pier 3 is 1.2 m lower "
              "than in 2023. The footing is not yet exposed, but riprap protection should be placed "
              "during the low-flow window of September and October."),
        ("p", "F-6, coating of the arch ribs (medium). The paint system in zone 2 shows breakdown over 35 "
              "percent of its area, with rust starting at the rib splices. Blast cleaning and repainting "
              "are recommended within three years."),
    ],
    [
        ("h1", "5. Recommendations and cost estimate"),
        ("table", ""),
        ("p", "Costs are 2025 estimates and include design, traffic control and a 15 percent "
              "contingency. They exclude the inspection fee of $186,500 under contract PW-2025-117."),
        ("h1", "6. Schedule and funding"),
        ("p", "We recommend that the bearings (F-2) be replaced from March to June 2026, the expansion "
              "joint (F-3) in July and August 2026, and the scour protection (F-5) in September and "
              "October 2026. The deck overlay (F-4) follows from April to September 2027 and the "
              "repainting (F-6) from May to October 2028."),
        ("p", "The city has applied for a state Bridge Investment Program grant of $4,200,000. The "
              "remaining $4,898,000 would come from the city capital fund. Each phase keeps at least one "
              "lane open in each direction; full closures are limited to two weekends a year."),
        ("p", "Signed: Dana Okafor, P.E., Inspection Team Leader, Kestrel Engineering Group. Reviewed: "
              "Tomas Lindqvist, P.E., Bridge Division Manager, City of Port Merrow."),
    ],
]

COST_TABLE = [
    ("Item", "Work", "Window", "Estimate"),
    ("F-1", "Crack-arrest holes, floor beam FB-14", "Oct 2025 (done)", "$48,000"),
    ("F-2", "Replace four bearings at Pier 2", "Mar - Jun 2026", "$1,350,000"),
    ("F-3", "Replace south expansion joint", "Jul - Aug 2026", "$620,000"),
    ("F-5", "Riprap scour protection, Pier 3", "Sep - Oct 2026", "$780,000"),
    ("F-4", "Concrete deck overlay", "Apr - Sep 2027", "$2,900,000"),
    ("F-6", "Repaint arch ribs, zone 2", "May - Oct 2028", "$3,400,000"),
    ("", "Total", "2025 - 2028", "$9,098,000"),
]

LETTER_PAGES: list[list[str]] = [
    [
        "KESTREL ENGINEERING GROUP",
        "Structures and Inspection Services",
        "410 Quay Street, Suite 12, Port Merrow",
        "",
        "24 September 2025",
        "",
        "Ms. Marisol Grant",
        "Director of Public Works",
        "City of Port Merrow",
        "",
        "Re: Harbor Bridge (PM-0417), urgent finding and interim measures",
        "",
        "Dear Ms. Grant,",
        "",
        "During the biennial inspection of the Harbor Bridge, which our team carried out from 8 to 19 "
        "September 2025, we found a fatigue crack in floor beam FB-14. The crack is 38 mm long and runs "
        "vertically in the web at the north connection plate, directly below the northbound curb lane. "
        "Dye-penetrant testing on 18 September confirmed that it is an active fatigue crack and not a "
        "surface defect in the paint.",
        "",
        "A crack of this kind grows with every heavy truck that crosses the floor beam. It does not "
        "threaten the bridge today, because the floor beam system has redundant load paths, but it must "
        "be stopped before it reaches the bottom flange. We therefore recommend two measures.",
        "",
        "First, close the northbound curb lane from 25 September 2025 until the repair is complete, so "
        "that trucks no longer cross FB-14 directly above the crack. The other three lanes can stay open. "
        "Second, drill crack-arrest holes of 25 mm diameter at both tips of the crack. Our estimate for "
        "this work, including traffic control, is $48,000, and it can be done by 3 October 2025.",
    ],
    [
        "Ms. Marisol Grant, 24 September 2025, page 2",
        "",
        "We also ask the city to approve ultrasonic testing of the other floor beams during night lane "
        "closures from 6 to 17 October 2025, between 9 p.m. and 5 a.m. This will tell us whether FB-14 "
        "is an isolated case. We expect to deliver the final inspection report on 6 October 2025 and "
        "will send the testing results as an addendum by 31 October 2025.",
        "",
        "The inspection found five other deficiencies, none of them urgent: frozen bearings with up to 22 "
        "percent section loss at Pier 2, a torn expansion joint seal at the south abutment, deck "
        "delamination on 7.5 percent of the deck area, 1.2 m of scour at Pier 3, and coating breakdown "
        "on the arch ribs. Our preliminary estimate for all repairs is about $9.1 million over three years.",
        "",
        "Please call me at (555) 014-2290 if you would like to discuss these measures. Tomas Lindqvist of "
        "your Bridge Division has already seen the crack on site and agrees with this plan.",
        "",
        "Sincerely,",
        "",
        "Dana Okafor, P.E.",
        "Inspection Team Leader",
        "",
        "Enclosures: crack location sketch, dye-penetrant test record DP-07",
        "Copy: Tomas Lindqvist, P.E., Bridge Division Manager",
    ],
]

NOTICE_LINES: list[tuple[str, str]] = [
    ("h", "PUBLIC NOTICE"),
    ("h2", "Harbor Bridge Night Lane Closures"),
    ("", ""),
    ("p", "The City of Port Merrow Department of Public Works will close lanes on the Harbor Bridge "
          "(Harbor Avenue, State Route 31) at night from Monday 6 October to Friday 17 October 2025."),
    ("", ""),
    ("p", "Closures run from 9 p.m. to 5 a.m. on Sunday to Thursday nights only. One lane will stay open "
          "in each direction at all times. The sidewalk stays open."),
    ("", ""),
    ("p", "During the closures, inspectors will test the steel floor beams with ultrasonic equipment. "
          "This follows the 2025 inspection, which found a crack in floor beam FB-14 that was repaired "
          "on 3 October 2025."),
    ("", ""),
    ("p", "Emergency vehicles will be escorted through the work zone. Expect delays of up to 10 minutes. "
          "Trucks over 12 tonnes should use the Eastgate Road crossing."),
    ("", ""),
    ("p", "Questions: call the Public Works hotline at (555) 014-2290 or write to bridges@portmerrow.example."),
    ("", ""),
    ("p", "Marisol Grant, Director of Public Works. Posted 29 September 2025."),
]

PHOTO_LINES: list[tuple[str, str]] = [
    ("h", "NOTICE"),
    ("h2", "BRIDGE INSPECTION IN PROGRESS"),
    ("", ""),
    ("p", "Northbound curb lane closed"),
    ("p", "25 September to 3 October 2025"),
    ("", ""),
    ("p", "Crack repair on floor beam FB-14"),
    ("p", "Three lanes remain open"),
    ("", ""),
    ("s", "City of Port Merrow Public Works"),
    ("s", "Hotline (555) 014-2290"),
]

INSPECTION_NOTES = """\
HARBOR BRIDGE (PM-0417) - 2025 BIENNIAL INSPECTION - FIELD NOTES
Kestrel Engineering Group, contract PW-2025-117
Team: Dana Okafor, P.E. (team leader), Ravi Subramanian, Claire Whitcombe, Jonah Pell, Aiko Brandt
Weather log kept separately. All dimensions in metres unless noted.

Mon 8 Sep 2025
- Site safety briefing 07:00 with DPW traffic crew. Under-bridge unit UB-2 on site 07:40.
- North approach spans 1-4 inspected. Minor map cracking in deck soffit, no change from 2023.
- Drainage scupper at span 3 blocked with debris; asked DPW to clear it.

Tue 9 Sep 2025
- South approach spans 9-12. Efflorescence at span 11 soffit, about 2 m2.
- South abutment: expansion joint strip seal torn over approx. 11 m. Water running onto bearing seat.
  Photos P-112 to P-120.

Wed 10 Sep 2025
- Pier 2 bearings: all four frozen, heavy pack rust, no sign of movement at 14 C.
- Girder G3 bottom flange next to bearing B2-3: section loss measured with calipers, worst 22 percent.
  Flag for load rating check. Photos P-131 to P-139.

Thu 11 Sep 2025
- Rope access on arch ribs, zone 1 (north half). Coating fair, breakdown about 10 percent.
- Zone 2 (south half): breakdown about 35 percent, rust at rib splices RS-4 and RS-5.

Fri 12 Sep 2025
- Deck sounding, northbound lanes, chain drag. Delaminations mostly in wheel paths.

Mon 15 Sep 2025
- Deck sounding, southbound lanes. Total delaminated area (both directions) about 633 m2 of 8,446 m2,
  i.e. 7.5 percent. Marked in paint, sketches D-1 to D-9.

Tue 16 Sep 2025
- Dive team (Harborline Marine) at Piers 2 and 3. Pier 2 channel bed stable.
- Pier 3 upstream nose: bed 1.2 m lower than 2023 soundings. Footing not exposed. Recommend riprap.

Wed 17 Sep 2025
- Floor system, main span, from UB-2. Floor beams FB-1 to FB-20.
- FB-14, north connection plate: hairline crack in web, visible length 38 mm, vertical. Photos P-201 to P-206.
  Called T. Lindqvist (DPW) from site, he came out at 15:30 and saw it.

Thu 18 Sep 2025
- Dye-penetrant test DP-07 on FB-14: crack confirmed, 38 mm, both tips clearly defined.
- No indications on FB-13 and FB-15 (visual + dye penetrant).

Fri 19 Sep 2025
- Bearings at Piers 1, 4 and the north abutment: functional.
- Lighting and railings: 3 light poles with loose base nuts (LP-22, LP-23, LP-31), tightened by DPW same day.
- Demobilised 16:00.

Follow-up
- 24 Sep: letter to M. Grant recommending closure of NB curb lane from 25 Sep and crack-arrest holes.
- 3 Oct: crack-arrest holes drilled at FB-14 (25 mm), lane reopened 18:00. Cost $48,000.
- 6-17 Oct: ultrasonic testing of remaining floor beams, night closures 9 p.m. - 5 a.m.
"""

FAQ_MD = """\
# Harbor Bridge maintenance program: frequently asked questions

*City of Port Merrow, Department of Public Works. Updated 17 November 2025.*

## Is the Harbor Bridge safe to use?

Yes. The 2025 inspection, carried out from 8 to 19 September 2025 by Kestrel Engineering Group, found
that the bridge can carry all legal loads and needs no weight limit. The one urgent problem, a 38 mm
crack in floor beam FB-14, was stopped with crack-arrest holes on 3 October 2025.

## What did the inspection find?

Six deficiencies, listed as F-1 to F-6 in the report:

1. **F-1** a fatigue crack in floor beam FB-14 (repaired, $48,000);
2. **F-2** frozen bearings at Pier 2, with up to 22 percent section loss on girder G3;
3. **F-3** a torn expansion joint seal at the south abutment;
4. **F-4** deck delamination on 7.5 percent of the deck, about 633 square metres;
5. **F-5** 1.2 m of scour at the upstream nose of Pier 3;
6. **F-6** paint breakdown on 35 percent of the arch ribs in zone 2.

## How much will the repairs cost, and who pays?

The whole program is estimated at **$9,098,000** (about $9.1 million). A state Bridge Investment Program
grant pays $4,200,000 and the city capital fund pays the remaining $4,898,000. The City Council approved
the program on 17 November 2025 by a vote of 7 to 0.

## When will the work happen?

| Work | Window |
|---|---|
| Replace Pier 2 bearings (F-2) | March to June 2026 |
| Replace south expansion joint (F-3) | July and August 2026 |
| Scour protection at Pier 3 (F-5) | September and October 2026 |
| Deck overlay (F-4) | April to September 2027 |
| Repaint arch ribs (F-6) | May to October 2028 |

## Will the bridge be closed?

No full-time closure is planned. At least one lane stays open in each direction during every phase, and
full closures are limited to two weekends a year, announced at least 14 days ahead.

## Why were there night lane closures in October 2025?

From 6 to 17 October 2025, between 9 p.m. and 5 a.m. on Sunday to Thursday nights, inspectors tested the
other steel floor beams with ultrasonic equipment to make sure the crack in FB-14 was an isolated case.

## When is the next inspection?

The next routine inspection is due in September 2027. Floor beam FB-14 is checked every three months.

## Who can I contact?

Call the Public Works hotline at (555) 014-2290 or write to bridges@portmerrow.example. The program is
managed by Tomas Lindqvist, P.E., Bridge Division Manager.
"""

PRESS_RELEASE_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Council approves $9.1 million Harbor Bridge maintenance program - City of Port Merrow</title>
<style>
  body { font-family: sans-serif; max-width: 46em; margin: 2em auto; }
  .dateline { font-weight: bold; }
  nav, footer { color: #555; font-size: 0.9em; }
</style>
</head>
<body>
<nav><a href="index.html">Home</a> | <a href="news.html">News</a> | <a href="contact.html">Contact</a></nav>
<article>
<h1>Council approves $9.1 million Harbor Bridge maintenance program</h1>
<p class="dateline">PORT MERROW, 17 November 2025.</p>
<p>The Port Merrow City Council voted 7 to 0 on Monday to approve a $9,098,000 maintenance program for
the Harbor Bridge, the 412-metre crossing that carries Harbor Avenue over the Merrow Channel. The work
will run from 2026 to 2028 and keep at least one lane open in each direction throughout.</p>
<p>The program follows the biennial inspection carried out from 8 to 19 September 2025 by Kestrel
Engineering Group. Inspectors found a 38 mm fatigue crack in floor beam FB-14, which was repaired on
3 October 2025 at a cost of $48,000, and five other deficiencies, including frozen bearings at Pier 2
and 1.2 metres of scour at Pier 3.</p>
<blockquote>
<p>"The Harbor Bridge is safe today, and this program is how we keep it that way for another fifty
years," said Marisol Grant, Director of Public Works. "Fixing the bearings and the scour now costs a
fraction of what we would pay if we waited."</p>
</blockquote>
<h2>What happens when</h2>
<ul>
<li>March to June 2026: replacement of the four bearings at Pier 2 ($1,350,000).</li>
<li>July and August 2026: new expansion joint at the south abutment ($620,000).</li>
<li>September and October 2026: riprap scour protection at Pier 3 ($780,000).</li>
<li>April to September 2027: concrete deck overlay ($2,900,000).</li>
<li>May to October 2028: repainting of the arch ribs ($3,400,000).</li>
</ul>
<h2>Funding</h2>
<p>A state Bridge Investment Program grant covers $4,200,000. The remaining $4,898,000 comes from the
city capital fund, within the budget adopted in June 2025.</p>
<p>The bridge carries about 31,400 vehicles a day and is the designated emergency route between the port
and Merrow General Hospital. Residents can follow the work at the project page or call the Public Works
hotline at (555) 014-2290.</p>
<p><strong>Media contact:</strong> Tomas Lindqvist, P.E., Bridge Division Manager,
bridges@portmerrow.example.</p>
</article>
<footer>City of Port Merrow, Department of Public Works. 200 Civic Plaza, Port Merrow.</footer>
</body>
</html>
"""

MEMO = {
    "to": "Infrastructure Committee, Port Merrow City Council",
    "from": "Tomas Lindqvist, P.E., Bridge Division Manager",
    "date": "20 October 2025",
    "subject": "Harbor Bridge (PM-0417): proposed 2025-2028 maintenance program",
    "sections": [
        ("Purpose", [
            "This memo asks the committee to recommend the Harbor Bridge maintenance program to the full "
            "council for its meeting of 17 November 2025. The program addresses the six findings of the "
            "2025 biennial inspection by Kestrel Engineering Group and is estimated at $9,098,000.",
        ]),
        ("Background", [
            "The inspection took place from 8 to 19 September 2025. The deck and superstructure ratings fell "
            "from 6 to 5 (fair). The urgent finding, a 38 mm fatigue crack in floor beam FB-14, was repaired "
            "on 3 October 2025 for $48,000 after a nine-day closure of the northbound curb lane. Ultrasonic "
            "testing of the other floor beams from 6 to 17 October 2025 found no further cracks.",
            "The remaining findings are not urgent, but they interact: water from the torn south expansion "
            "joint is feeding the corrosion at the Pier 2 bearings, where girder G3 has lost up to 22 percent "
            "of its bottom flange section. Delaying the joint and bearing work would raise its cost.",
        ]),
        ("Proposed program", []),
        ("Funding", [
            "The state Bridge Investment Program has offered a grant of $4,200,000, conditional on the "
            "council committing the remaining $4,898,000 from the city capital fund by 31 December 2025.",
        ]),
        ("Recommendation", [
            "That the committee recommend approval of the program and of the city share of $4,898,000, and "
            "that the Bridge Division report progress to the committee every six months.",
        ]),
    ],
}

MEMO_TABLE = [
    ("Finding", "Work", "Window", "Estimate"),
    ("F-1", "Crack-arrest holes, FB-14 (done)", "October 2025", "$48,000"),
    ("F-2", "Replace Pier 2 bearings", "March - June 2026", "$1,350,000"),
    ("F-3", "Replace south expansion joint", "July - August 2026", "$620,000"),
    ("F-5", "Scour protection at Pier 3", "Sept - Oct 2026", "$780,000"),
    ("F-4", "Deck overlay", "April - Sept 2027", "$2,900,000"),
    ("F-6", "Repaint arch ribs, zone 2", "May - Oct 2028", "$3,400,000"),
    ("", "Total", "", "$9,098,000"),
]


# --------------------------------------------------------------------------------------------------
# born-digital PDF
# --------------------------------------------------------------------------------------------------

def _new_pdf():
    from fpdf import FPDF

    class ReportPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("DejaVu", "", 8)
            self.cell(0, 10, f"Harbor Bridge PM-0417 inspection report 2025, page {self.page_no()} of 4",
                      align="C")

    pdf = ReportPDF(format="Letter", unit="mm")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(REPORT_TITLE)
    pdf.set_author("Kestrel Engineering Group")
    pdf.set_creator("docpipe samples/make_samples.py")
    pdf.set_producer("fpdf2")
    pdf.add_font("DejaVu", "", str(SANS))
    pdf.add_font("DejaVu", "B", str(SANS_BOLD))
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(True, margin=20)
    return pdf


def bridge_report_pdf(encrypt_password: str | None = None) -> bytes:
    pdf = _new_pdf()
    if encrypt_password:
        pdf.set_encryption(owner_password="kestrel-owner", user_password=encrypt_password)
    for page in REPORT_PAGES:
        pdf.add_page()
        for kind, text in page:
            if kind == "title":
                pdf.set_font("DejaVu", "B", 17)
                pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(2)
            elif kind == "meta":
                pdf.set_font("DejaVu", "", 9)
                pdf.multi_cell(0, 4.6, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(3)
            elif kind == "h1":
                pdf.ln(2)
                pdf.set_font("DejaVu", "B", 13)
                pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
            elif kind == "h2":
                pdf.set_font("DejaVu", "B", 11)
                pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            elif kind == "p":
                pdf.set_font("DejaVu", "", 10.5)
                pdf.multi_cell(0, 5.4, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(2.2)
            elif kind == "table":
                pdf.set_font("DejaVu", "", 9.5)
                with pdf.table(col_widths=(14, 70, 38, 28), text_align=("LEFT", "LEFT", "LEFT", "RIGHT"),
                               line_height=6) as table:
                    for row in COST_TABLE:
                        cells = table.row()
                        for value in row:
                            cells.cell(value)
                pdf.ln(3)
    if pdf.page_no() != 4:
        raise RuntimeError(f"bridge_report.pdf should have 4 pages, the layout gave {pdf.page_no()}")
    return bytes(pdf.output())


# --------------------------------------------------------------------------------------------------
# scans: text rendered to images, with noise and skew
# --------------------------------------------------------------------------------------------------

def _wrap(text: str, font: ImageFont.FreeTypeFont, width_px: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width_px:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def _render_page(items: list[tuple[str, str]], dpi: int, fonts: dict[str, ImageFont.FreeTypeFont],
                 size_in=(8.5, 11.0), margin_in=1.0, line_gap=1.45) -> tuple[Image.Image, list[str]]:
    """Lay out (style, text) items on a white page; returns the page and the lines as drawn."""
    width, height = int(size_in[0] * dpi), int(size_in[1] * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    x0, y = int(margin_in * dpi), int(margin_in * dpi)
    usable = width - 2 * x0
    drawn: list[str] = []
    for style, text in items:
        font = fonts.get(style, fonts["p"])
        step = int(font.size * line_gap)
        if not text:
            y += step // 2
            drawn.append("")
            continue
        for line in _wrap(text, font, usable):
            x = x0
            if style in ("h", "h2"):
                x = x0 + int((usable - font.getlength(line)) / 2)
            draw.text((x, y), line, font=font, fill=18)
            drawn.append(line)
            y += step
        if y > height - x0:
            raise RuntimeError("page overflow while rendering a scan")
    return page, drawn


def _scan_effects(page: Image.Image, rng: np.random.Generator, angle: float) -> Image.Image:
    """What a flatbed scanner does to a page: slight skew, blur, paper tone, noise and specks."""
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    pixels = np.asarray(page, dtype=np.float32)
    pixels = 236.0 - (236.0 - 22.0) * (255.0 - pixels) / 255.0  # grey paper, imperfect black
    pixels += rng.normal(0.0, 3.5, pixels.shape)
    specks = rng.random(pixels.shape) < 0.0002
    pixels[specks] = rng.uniform(40, 140, int(specks.sum()))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def _scan_fonts(dpi: int, body_pt: float) -> dict[str, ImageFont.FreeTypeFont]:
    px = lambda pt: int(round(pt * dpi / 72))  # noqa: E731
    return {
        "p": ImageFont.truetype(str(SERIF), px(body_pt)),
        "h": ImageFont.truetype(str(SERIF_BOLD), px(body_pt * 1.9)),
        "h2": ImageFont.truetype(str(SERIF_BOLD), px(body_pt * 1.3)),
        "s": ImageFont.truetype(str(SERIF), px(body_pt * 0.9)),
    }


def _image_pdf(pages: list[Image.Image], dpi: int, title: str) -> bytes:
    """An image-only PDF (no text layer), one JPEG per Letter page, as a scanner writes it."""
    from fpdf import FPDF

    pdf = FPDF(format="Letter", unit="pt")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    pdf.set_creator("ScanStation 4000")
    pdf.set_producer("fpdf2")
    pdf.set_auto_page_break(False)
    for page in pages:
        pdf.add_page()
        buffer = io.BytesIO()
        page.save(buffer, format="JPEG", quality=50, optimize=True, dpi=(dpi, dpi))
        buffer.seek(0)
        pdf.image(buffer, x=0, y=0, w=pdf.w, h=pdf.h)
    return bytes(pdf.output())


def scanned_letter(dpi: int = 300) -> tuple[bytes, str]:
    rng = np.random.default_rng(20250924)
    fonts = _scan_fonts(dpi, 11)
    images, text_pages = [], []
    for number, (lines, angle) in enumerate(zip(LETTER_PAGES, (0.6, -0.4)), start=1):
        items = [("h2" if number == 1 and i == 0 else "p", line) for i, line in enumerate(lines)]
        page, drawn = _render_page(items, dpi, fonts, line_gap=1.4)
        images.append(_scan_effects(page, rng, angle))
        text_pages.append("\n".join(drawn).strip("\n"))
    truth = "\n\n".join(text_pages) + "\n"
    return _image_pdf(images, dpi, "Scan 2025-09-24 Kestrel letter"), truth


def scanned_notice(dpi: int = 300) -> tuple[bytes, str]:
    rng = np.random.default_rng(20250929)
    fonts = _scan_fonts(dpi, 13)
    page, drawn = _render_page(NOTICE_LINES, dpi, fonts, line_gap=1.4)
    image = _scan_effects(page, rng, -0.8)
    truth = "\n".join(drawn).strip("\n") + "\n"
    return _image_pdf([image], dpi, "Scan 2025-09-29 public notice"), truth


# --------------------------------------------------------------------------------------------------
# photo of a notice on a wall
# --------------------------------------------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    small = Image.fromarray(((rng.random((cells[1], cells[0])) * 255)).astype(np.uint8), "L")
    return np.asarray(small.resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0 - 0.5


def site_photo() -> tuple[bytes, str]:
    rng = np.random.default_rng(20250925)
    width, height = 1280, 960
    # a concrete wall: a lighting gradient, blotches and a fine grain
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 0.78 + 0.22 * (1.0 - np.hypot(xx - width * 0.35, yy - height * 0.3) / np.hypot(width, height))
    blotch = 26 * _smooth_noise(rng, (width, height), (24, 18)) + 10 * _smooth_noise(rng, (width, height), (96, 72))
    base = np.stack([148 + blotch, 142 + blotch, 131 + blotch], axis=-1) * light[..., None]
    base += rng.normal(0, 2.0, (height, width, 1))
    wall = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")

    # the printed notice
    sheet_w, sheet_h = 860, 600
    fonts = {
        "h": ImageFont.truetype(str(SANS_BOLD), 76),
        "h2": ImageFont.truetype(str(SANS_BOLD), 38),
        "p": ImageFont.truetype(str(SANS), 36),
        "s": ImageFont.truetype(str(SANS), 29),
    }
    sheet = Image.new("RGB", (sheet_w, sheet_h), (247, 245, 238))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((14, 14, sheet_w - 15, sheet_h - 15), outline=(190, 30, 30), width=6)
    y, drawn = 40, []
    for style, text in PHOTO_LINES:
        font = fonts.get(style, fonts["p"])
        if not text:
            y += 18
            continue
        x = (sheet_w - font.getlength(text)) / 2
        fill = (190, 30, 30) if style == "h" else (28, 28, 32)
        draw.text((x, y), text, font=font, fill=fill)
        drawn.append(text)
        y += int(font.size * 1.3)
    if y > sheet_h - 30:
        raise RuntimeError("photo notice overflows its sheet")
    # light falloff across the paper
    shade = np.linspace(1.0, 0.86, sheet_w, dtype=np.float32)[None, :, None]
    sheet = Image.fromarray(np.clip(np.asarray(sheet, np.float32) * shade, 0, 255).astype(np.uint8), "RGB")

    angle = 2.2
    sheet_rot = sheet.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    mask = Image.new("L", sheet.size, 255).rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    left, top = (width - sheet_rot.width) // 2 + 20, (height - sheet_rot.height) // 2 - 10
    shadow = Image.new("L", (width, height), 0)
    shadow.paste(mask, (left + 12, top + 14))
    shadow = shadow.filter(ImageFilter.GaussianBlur(12))
    wall_arr = np.asarray(wall, np.float32) * (1.0 - 0.45 * np.asarray(shadow, np.float32)[..., None] / 255.0)
    photo = Image.fromarray(wall_arr.astype(np.uint8), "RGB")
    photo.paste(sheet_rot, (left, top), mask)
    # tape on the corners and a lens blur
    tape = ImageDraw.Draw(photo, "RGBA")
    for cx, cy in ((left + 30, top + 25), (left + sheet_rot.width - 40, top + 40)):
        tape.polygon([(cx - 45, cy - 12), (cx + 40, cy - 22), (cx + 45, cy + 12), (cx - 40, cy + 22)],
                     fill=(225, 220, 190, 150))
    # (sensor noise after the blur would double the PNG's size: the wall's grain stands in for it)
    photo = photo.filter(ImageFilter.GaussianBlur(1.1))
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), "\n".join(drawn) + "\n"


# --------------------------------------------------------------------------------------------------
# office and text formats
# --------------------------------------------------------------------------------------------------

def maintenance_memo_docx() -> bytes:
    import docx
    from docx.shared import Pt

    document = docx.Document()
    core = document.core_properties
    core.author = MEMO["from"]
    core.title = MEMO["subject"]
    core.created = core.modified = FIXED_DATE.replace(tzinfo=None)
    core.last_modified_by = "Tomas Lindqvist"
    core.revision = 1
    document.styles["Normal"].font.size = Pt(11)

    document.add_heading("Memorandum", level=0)
    for label in ("to", "from", "date", "subject"):
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{label.capitalize()}: ").bold = True
        paragraph.add_run(MEMO[label])
    for heading, paragraphs in MEMO["sections"]:
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
        if heading == "Proposed program":
            document.add_paragraph("The work is phased so that at least one lane stays open in each "
                                   "direction, with full closures limited to two weekends a year:")
            table = document.add_table(rows=0, cols=len(MEMO_TABLE[0]))
            table.style = "Table Grid"
            for i, row in enumerate(MEMO_TABLE):
                cells = table.add_row().cells
                for cell, value in zip(cells, row):
                    cell.text = value
                    if i == 0 or row[1] == "Total":
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
    raw = io.BytesIO()
    document.save(raw)
    return _normalize_zip(raw.getvalue())


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed member timestamps, so the .docx is byte-for-byte reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            dst.writestr(member, src.read(info.filename))
    return out.getvalue()


# --------------------------------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------------------------------

def bomb_png(side: int = 45000) -> bytes:
    """A *valid* 1-bit greyscale PNG of side x side pixels (2 gigapixels) that compresses to < 300 KB.

    Every row is a filter byte plus side/8 zero bytes; deflate of zeros reaches its ~1030:1 ceiling, which is
    why the side stops at 45,000 (50,000 would need ~303 KB). A decoder that trusts the header allocates
    2 GB for an 8-bit greyscale copy.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    rows_per_block = 512
    block = row * rows_per_block
    parts = []
    full, rest = divmod(side, rows_per_block)
    for _ in range(full):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(row * rest))
    parts.append(compressor.flush())
    idat = b"".join(parts)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def png_named_pdf() -> bytes:
    """A small picture of text whose name claims it is a PDF: content sniffing must see a PNG."""
    image = Image.new("L", (1100, 220), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(SANS), 40)
    draw.text((40, 40), "Harbor Bridge photo log, sheet 7", font=font, fill=20)
    draw.text((40, 120), "Crack gauge FB-14: 0.4 mm opening", font=font, fill=20)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------

def write_all(out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bad").mkdir(exist_ok=True)
    files: dict[str, bytes] = {}
    report = bridge_report_pdf()
    files["bridge_report.pdf"] = report
    letter, letter_truth = scanned_letter()
    files["scanned_letter.pdf"], files["scanned_letter.txt"] = letter, letter_truth.encode()
    notice, notice_truth = scanned_notice()
    files["scanned_notice.pdf"], files["scanned_notice.txt"] = notice, notice_truth.encode()
    photo, photo_truth = site_photo()
    files["site_photo.png"], files["site_photo.txt"] = photo, photo_truth.encode()
    files["maintenance_memo.docx"] = maintenance_memo_docx()
    files["inspection_notes.txt"] = INSPECTION_NOTES.encode()
    files["faq.md"] = FAQ_MD.encode()
    files["press_release.html"] = PRESS_RELEASE_HTML.encode()
    files["bad/empty.pdf"] = b""
    files["bad/encrypted.pdf"] = bridge_report_pdf(encrypt_password="harbor")
    cut = report[: int(len(report) * 0.6)]
    if b"%%EOF" in cut:
        raise RuntimeError("truncated.pdf still holds an %%EOF marker")
    files["bad/truncated.pdf"] = cut
    files["bad/png_named.pdf"] = png_named_pdf()
    files["bad/bomb.png"] = bomb_png()
    sizes = {}
    for name, data in files.items():
        (out / name).write_bytes(data)
        sizes[name] = len(data)
        if len(data) >= 1024 * 1024:
            raise RuntimeError(f"{name} is {len(data)} bytes, over the 1 MB budget of a sample")
    if sum(sizes.values()) >= 4 * 1024 * 1024:
        raise RuntimeError("the samples exceed their 4 MB budget")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write into (default: samples/ beside this script)")
    args = parser.parse_args()
    sizes = write_all(args.out)
    for name, size in sorted(sizes.items()):
        print(f"{size:>9,}  {name}")
    print(f"{sum(sizes.values()):>9,}  total")


if __name__ == "__main__":
    main()
