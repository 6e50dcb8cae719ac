"""Knowledge: documents are chunked, embedded (once) and indexed, answers cite the text they come from,
and deleting a document takes its vectors with it."""

import json

import pytest

from tests.conftest import ROOT, SAMPLES, pdf_of

# most of these look inside the offline runtime; test_a_document_is_indexed_as_a_client_sees_it takes the target
offline_only = pytest.mark.offline_only(
    "indexes through the offline runtime and asks its in-process Ask function, reading the emulated S3 Vectors "
    "index (deployed, Ask answers on an IAM-signed function URL these tests do not call)")

CORPUS = ["bridge_report.pdf", "faq.md", "inspection_notes.txt", "maintenance_memo.docx", "press_release.html"]
# written for the tuning set: topics of their own (a road tunnel, a leisure centre) with closures, reopenings,
# commissioning years, completion dates and the firms that audited, surveyed or build
TUNING_DOCS = ROOT / "tests/data/tuning_docs"


@pytest.fixture(scope="module")
def indexed(offline):
    """The text-native samples and the tuning documents, processed once for this module: name -> result."""
    paths = [SAMPLES / name for name in CORPUS] + sorted(TUNING_DOCS.iterdir())
    arns = {path.name: offline.start(path.read_bytes(), path.name)[0] for path in paths}
    results = dict(zip(arns, offline.finish(list(arns.values()))))
    assert all(r.result["status"] == "SUCCEEDED" for r in results.values())
    return results


def _vector_keys(offline, doc_id: str) -> list[str]:
    import boto3

    s3vectors, keys, token = boto3.client("s3vectors", region_name="us-east-1"), [], None
    env = offline.runtime.environment
    while True:
        page = s3vectors.list_vectors(vectorBucketName=env["DOCPIPE_VECTOR_BUCKET"], indexName=env["DOCPIPE_VECTOR_INDEX"],
                                      **({"nextToken": token} if token else {}))
        keys += [v["key"] for v in page["vectors"] if v["key"].startswith(doc_id + "#")]
        token = page.get("nextToken")
        if not token:
            return keys


def test_a_document_is_indexed_as_a_client_sees_it(target):
    """Through the target's own clients only: the manifest's counts, one vector per chunk listed by S3 Vectors,
    and a chunk's own embedding (from Bedrock) finding that chunk first."""
    if target.name == "deployed":
        pytest.skip("the deployed target does not know the stack's vector bucket (not among its outputs)")
    data = (SAMPLES / "faq.md").read_bytes() + b"\n\nThis copy was indexed for the client's view of the index.\n"
    result = target.process(data, "faq-client-view.md")
    assert result.result["status"] == "SUCCEEDED"
    doc_id = result.result["doc_id"]
    index = next(s for s in result.manifest()["stages"] if s["name"] == "index")
    chunks = [json.loads(line) for line in target.read(f"work/{doc_id}/chunks.jsonl").splitlines()]
    env, s3vectors = target.environment, target.client("s3vectors")
    where = {"vectorBucketName": env["DOCPIPE_VECTOR_BUCKET"], "indexName": env["DOCPIPE_VECTOR_INDEX"]}
    keys, token = [], None
    while True:
        page = s3vectors.list_vectors(**where, **({"nextToken": token} if token else {}))
        keys += [v["key"] for v in page["vectors"] if v["key"].startswith(doc_id + "#")]
        if not (token := page.get("nextToken")):
            break
    assert len(keys) == len(chunks) == index["detail"]["vectors"] > 1
    body = json.dumps({"inputText": chunks[1]["text"], "dimensions": int(env["DOCPIPE_EMBEDDING_DIMENSIONS"]),
                       "normalize": True})
    embedding = json.loads(target.client("bedrock-runtime").invoke_model(
        modelId=env["DOCPIPE_EMBEDDING_MODEL_ID"], body=body)["body"].read())["embedding"]
    nearest = s3vectors.query_vectors(**where, queryVector={"float32": embedding}, topK=1, returnMetadata=True)
    assert nearest["vectors"][0]["key"] == f"{doc_id}#{1:05d}"
    assert nearest["vectors"][0]["metadata"]["text"] == chunks[1]["text"]


@offline_only
def test_every_chunk_is_embedded_and_indexed_with_citation_metadata(offline, indexed):
    result = indexed["bridge_report.pdf"]
    manifest = result.manifest()
    embed = next(s for s in manifest["stages"] if s["name"] == "embed")
    index = next(s for s in manifest["stages"] if s["name"] == "index")
    chunks = [json.loads(line) for line in offline.read(f"work/{result.result['doc_id']}/chunks.jsonl").splitlines()]
    assert embed["detail"]["chunks"] == len(chunks) == index["detail"]["vectors"] > 1
    assert len(_vector_keys(offline, result.result["doc_id"])) == len(chunks)
    assert manifest["usage"]["embedding_input_tokens"] > 0 and "embedding_input_tokens" in manifest["cost"]["lines"]
    text = "\n\n".join(page["text"] for page in result.text()["pages"])
    for chunk in chunks:
        assert text[chunk["char_start"]:chunk["char_end"]] == chunk["text"]


@offline_only
def test_a_second_run_of_the_same_content_makes_no_embedding_call(offline, indexed):
    hub = offline.runtime.hub
    before = hub.count("bedrock-runtime", "InvokeModel")
    again = offline.process((SAMPLES / "bridge_report.pdf").read_bytes(), "bridge_report.pdf")
    embed = next(s for s in again.manifest()["stages"] if s["name"] == "embed")
    assert hub.count("bedrock-runtime", "InvokeModel") == before
    assert embed["detail"]["embedding_calls"] == 0 and embed["detail"]["cache_hits"] == embed["detail"]["chunks"]
    # re-processing the same key replaced the earlier version's vectors instead of duplicating them
    assert _vector_keys(offline, indexed["bridge_report.pdf"].result["doc_id"]) == []
    assert len(_vector_keys(offline, again.result["doc_id"])) == embed["detail"]["chunks"]


QUESTIONS = ROOT / "tests/data/questions.jsonl"  # the set the grounding was tuned on
HELDOUT_QUESTIONS = ROOT / "tests/data/questions_heldout.jsonl"  # written after, over documents of their own
HELDOUT_DOCS = ROOT / "tests/data/heldout_docs"
# written and committed before the grounding's re-tuning was measured on it, over documents of their own
HELDOUT_2_QUESTIONS = ROOT / "tests/data/questions_heldout_2.jsonl"
HELDOUT_2_DOCS = ROOT / "tests/data/heldout_docs_2"
# written blind by another hand while the grounding was re-tuned for answer kinds, measured once after the freeze
HELDOUT_3_QUESTIONS = ROOT / "tests/data/questions_heldout_3.jsonl"
HELDOUT_3_DOCS = ROOT / "tests/data/heldout_docs_3"
# written blind by other hands before the subject re-tuning of 2026-12-07, measured once after its freeze
HELDOUT_4_QUESTIONS = ROOT / "tests/data/questions_heldout_4.jsonl"
HELDOUT_4_DOCS = ROOT / "tests/data/heldout_docs_4"
HELDOUT_5_QUESTIONS = ROOT / "tests/data/questions_heldout_5.jsonl"
HELDOUT_5_DOCS = ROOT / "tests/data/heldout_docs_5"
# written blind by another hand after that freeze, measured once on the same code (a third blind measurement)
HELDOUT_6_QUESTIONS = ROOT / "tests/data/questions_heldout_6.jsonl"
HELDOUT_6_DOCS = ROOT / "tests/data/heldout_docs_6"
# written blind by another hand while the name rule was widened, measured once after (a fourth blind measurement)
HELDOUT_7_QUESTIONS = ROOT / "tests/data/questions_heldout_7.jsonl"
HELDOUT_7_DOCS = ROOT / "tests/data/heldout_docs_7"
# written blind by another hand (80b2b90) before the misses of sets 4-7 were read for the second re-tuning of
# 2026-12-07 (ten candidates a passage, abbreviations, counts of what is counted), measured once after its freeze
HELDOUT_8_QUESTIONS = ROOT / "tests/data/questions_heldout_8.jsonl"
HELDOUT_8_DOCS = ROOT / "tests/data/heldout_docs_8"
# written blind by another hand (40bc3b2) before the third re-tuning of 2026-12-08 (the words next to a figure,
# names written in full), measured once after its freeze
HELDOUT_9_QUESTIONS = ROOT / "tests/data/questions_heldout_9.jsonl"
HELDOUT_9_DOCS = ROOT / "tests/data/heldout_docs_9"
# written blind by another hand (4db3476) while set 9 was measured, before its misses were read; measured once on
# the same frozen code (a second blind measurement of the third re-tuning)
HELDOUT_10_QUESTIONS = ROOT / "tests/data/questions_heldout_10.jsonl"
HELDOUT_10_DOCS = ROOT / "tests/data/heldout_docs_10"
HELDOUT_SETS = {"held-out": (HELDOUT_QUESTIONS, HELDOUT_DOCS), "held-out 2": (HELDOUT_2_QUESTIONS, HELDOUT_2_DOCS),
                "held-out 3": (HELDOUT_3_QUESTIONS, HELDOUT_3_DOCS), "held-out 4": (HELDOUT_4_QUESTIONS, HELDOUT_4_DOCS),
                "held-out 5": (HELDOUT_5_QUESTIONS, HELDOUT_5_DOCS), "held-out 6": (HELDOUT_6_QUESTIONS, HELDOUT_6_DOCS),
                "held-out 7": (HELDOUT_7_QUESTIONS, HELDOUT_7_DOCS), "held-out 8": (HELDOUT_8_QUESTIONS, HELDOUT_8_DOCS),
                "held-out 9": (HELDOUT_9_QUESTIONS, HELDOUT_9_DOCS), "held-out 10": (HELDOUT_10_QUESTIONS, HELDOUT_10_DOCS)}
# sets 1-3 had their misses read before a re-tuning, 4-7 (first measured after a freeze each) before the second
# re-tuning of 2026-12-07, 8 before the third of 2026-12-08: they are seen; 9 was written before and measured
# once after its freeze
UNSEEN = ("held-out 10",)


TARGET = 0.8  # of questions with the answer in the 3 nearest passages, and of answers giving it
# the answers of sets 9 and 10, each held at what was measured so that a regression fails (README, "Knowledge"):
# below the target. Set 10 gave 13 of 24 at its one blind measurement; set 9, the latest seen set, 16 at its own
# and 14 once set 10's documents joined the index. The other seen sets' answers (sets 1-8: 166 questions, 17
# minutes of the local model; sets 7 and 8 last measured on 2026-12-08: 20 and 15) are not asked again here, so
# that CI stays within its 40 minutes
HELDOUT_ANSWERS_FLOOR = {"held-out 9": 14 / 24, "held-out 10": 13 / 24}
ANSWERED = tuple(HELDOUT_ANSWERS_FLOOR)
# retrieval meets the target on every set but the fourth, fifth, sixth, eighth and tenth: each set's documents
# stay in the index as distractors for the others, and each set added since the fourth took a passage or two
# from the sets before it (README, "Knowledge", has each set's count with and without the later documents)
HELDOUT_RETRIEVAL_FLOOR = {name: TARGET for name in HELDOUT_SETS} | {
    "held-out 4": 19 / 24, "held-out 5": 16 / 24, "held-out 6": 15 / 24, "held-out 8": 19 / 24, "held-out 10": 18 / 24}


PIPELINE_SECONDS_PER_DOCUMENT = 60


def _questions(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _holds(text: str, answer: str) -> bool:
    """Whether ``text`` states ``answer``, wherever the document wrapped its lines."""
    return " ".join(answer.split()) in " ".join(text.split())


def _hit_at_3(questions: list[dict]) -> float:
    """The share of questions with a passage holding the expected answer among the 3 that Ask keeps with
    top_k 3 (the 9 nearest and the rest of their documents among the 30 nearest, re-ranked by the question's
    words); the 3 nearest alone are printed beside it."""
    from docpipe.logic.ask import retrieve
    from docpipe.logic.ask_ranking import rerank

    kept = nearest = 0
    for item in questions:
        hits, close = retrieve(item["question"], 3, None)
        kept += any(_holds(hit["metadata"]["text"], item["answer"]) for hit in rerank(close, item["question"], 3))
        nearest += any(_holds(hit["metadata"]["text"], item["answer"]) for hit in hits[:3])
    print(f"hit@3 = {kept / len(questions):.2f} over {len(questions)} questions (the 3 nearest alone: "
          f"{nearest / len(questions):.2f})")
    return kept / len(questions)


def _answered(offline, questions: list[dict]) -> list[dict]:
    """The questions whose answer holds the expected figure (or name)."""
    answers = [offline.runtime.invoke("AskFunction", {"question": item["question"]}) for item in questions]
    right = [dict(item, citations=a["citations"]) for item, a in zip(questions, answers) if _holds(a["answer"], item["answer"])]
    print(f"answers with the expected figure: {len(right)} of {len(questions)}; missed: "
          f"{sorted(set(q['question'] for q in questions) - set(r['question'] for r in right))}")
    return right


@pytest.mark.offline_only("asks through the runtime's in-process Ask function and reads its vector index directly")
def test_retrieval_hit_at_3_on_the_shipped_question_set(offline, indexed):
    assert _hit_at_3(_questions(QUESTIONS)) >= TARGET


@pytest.mark.offline_only("asks through the runtime's in-process Ask function and reads its vector index directly")
def test_answers_give_the_expected_figure_on_the_shipped_question_set(offline, indexed):
    # the local model alone got 6 of the first 12 right (it misreads and misplaces figures); grounding the
    # answer in the passages (docpipe.logic.ask_grounding) brought it to 11, and the set (46 now) to 45
    questions = _questions(QUESTIONS)
    assert len(_answered(offline, questions)) >= TARGET * len(questions)


@offline_only
def test_ask_cites_text_that_contains_the_answer(offline, indexed):
    answer = offline.runtime.invoke("AskFunction", {"question": "What will replacing the four bearings at Pier 2 cost?"})
    assert answer["found"] and answer["answer"]
    assert answer["usage"]["outputTokens"] > 0
    quoting = [c for c in answer["citations"] if "$1,350,000" in c["quote"]]
    assert quoting, answer["citations"]
    for citation in answer["citations"]:  # each quote sits exactly where it says, in its document's text
        pages = json.loads(offline.read(f"out/{citation['doc_id']}/text.json"))["pages"]
        text = "\n\n".join(page["text"] for page in pages)
        assert text[citation["char_start"]:citation["char_end"]] == citation["quote"]
        starts = [sum(len(p["text"]) + 2 for p in pages[:i]) for i in range(len(pages))]
        on_page = next(p["page"] for p, start in zip(reversed(pages), reversed(starts)) if start <= citation["char_start"])
        assert citation["page"] == on_page, citation  # the quote's page, not its chunk's first


@offline_only
def test_a_citation_names_the_page_its_quote_is_on(offline, indexed):
    # one chunk holds both pages: the quote from its second page names page 2, not the chunk's first
    pages = ["Maintenance of the Old Mill footbridge. The deck boards were replaced and the handrails painted.",
             "The footbridge abutments were rebuilt in 1987 on timber piles driven into the river clay."]
    doc_id = offline.process(pdf_of(pages), "footbridge.pdf").result["doc_id"]
    answer = offline.runtime.invoke("AskFunction", {"question": "When were the footbridge abutments rebuilt?",
                                                    "doc_id": doc_id})
    (citation,) = answer["citations"]
    assert "1987" in citation["quote"] and citation["page"] == 2, citation


@offline_only
def test_ask_within_one_document_and_saying_so_when_nothing_is_relevant(offline, indexed):
    converse_calls = offline.runtime.hub.count("bedrock-runtime", "Converse")
    nothing = offline.runtime.invoke("AskFunction", {"question": "What is the best recipe for chocolate cake?"})
    assert nothing["found"] is False and nothing["citations"] == [] and "could not find" in nothing["answer"]
    assert offline.runtime.hub.count("bedrock-runtime", "Converse") == converse_calls  # no model call
    doc_id = indexed["faq.md"].result["doc_id"]
    scoped = offline.runtime.invoke("AskFunction", {"question": "Who manages the program?", "doc_id": doc_id, "top_k": 3})
    assert scoped["citations"] and {c["doc_id"] for c in scoped["citations"]} == {doc_id}


@offline_only
def test_ask_says_nothing_relevant_when_no_passage_is_about_the_questions_subject(offline, indexed):
    # inspection reports sit close to the question in embedding space, but none is about a beta reservoir dam
    from docpipe.logic.ask import NOT_FOUND

    converse_calls = offline.runtime.hub.count("bedrock-runtime", "Converse")
    for question in ("Who will inspect the beta reservoir dam?", "When will the Ostend water tower be repainted?"):
        answer = offline.runtime.invoke("AskFunction", {"question": question})
        assert answer["found"] is False and answer["citations"] == [], answer
        assert answer["answer"] == NOT_FOUND
    assert offline.runtime.hub.count("bedrock-runtime", "Converse") == converse_calls  # no model call
    control = offline.runtime.invoke("AskFunction", {"question": "When is the next inspection of the Harbor Bridge due?"})
    assert control["found"] is True and "September 2027" in control["answer"], control


@offline_only
def test_ask_names_a_document_that_is_not_indexed(offline, indexed):
    from docpipe.logic.ask import DOCUMENT_NOT_INDEXED

    converse_calls = offline.runtime.hub.count("bedrock-runtime", "Converse")
    answer = offline.runtime.invoke("AskFunction", {"question": "Who manages the program?", "doc_id": "no-such-doc"})
    assert answer["found"] is False and answer["answer"] == DOCUMENT_NOT_INDEXED.format(doc_id="no-such-doc")
    assert offline.runtime.hub.count("bedrock-runtime", "Converse") == converse_calls


@offline_only
def test_ask_through_its_function_url_rejects_bad_requests(offline, indexed):
    event = {"requestContext": {"http": {"method": "POST"}}, "body": json.dumps({"question": ""})}
    response = offline.runtime.invoke("AskFunction", event)
    assert response["statusCode"] == 400 and "question" in response["body"]


@offline_only
def test_deleting_a_document_removes_its_vectors(offline, indexed):
    result = offline.process((SAMPLES / "press_release.html").read_bytes(), "to-delete.html")
    doc_id = result.result["doc_id"]
    assert _vector_keys(offline, doc_id)
    offline.runtime.delete(offline.inbox + "to-delete.html")
    offline.runtime.lambdas.drain()
    assert _vector_keys(offline, doc_id) == []
    assert _vector_keys(offline, indexed["press_release.html"].result["doc_id"])  # other documents untouched


# -- held out: questions and documents written after the grounding was tuned -------------------------------

@pytest.fixture(scope="module")
def heldout_indexed(offline, indexed):
    """Every set's held-out documents, indexed next to the samples (all stay in the index as distractors)."""
    paths = sorted(path for _, docs in HELDOUT_SETS.values() for path in docs.iterdir())
    arns = {path.name: offline.start(path.read_bytes(), path.name)[0] for path in paths}
    # twenty documents' full pipelines (a summary from the local model, speech in two languages) on cores another
    # test worker shares: a wait long enough for a slow machine, not a time the test asserts
    results = dict(zip(arns, offline.finish(list(arns.values()), timeout=PIPELINE_SECONDS_PER_DOCUMENT * len(arns))))
    assert all(r.result["status"] == "SUCCEEDED" for r in results.values()), {
        name: (r.result["status"], r.result.get("reason")) for name, r in results.items()}
    return results


@pytest.mark.offline_only("reads only the question files")
@pytest.mark.parametrize("name", HELDOUT_SETS)
def test_held_out_questions_are_new_and_cover_the_kinds_of_the_tuning_set(name):
    questions, docs = HELDOUT_SETS[name]
    tuned, heldout = _questions(QUESTIONS), _questions(questions)
    assert len(heldout) >= 10
    # the unseen sets together hold at least 40% as many questions as the tuning set
    assert sum(len(_questions(HELDOUT_SETS[unseen][0])) for unseen in UNSEEN) >= 0.4 * len(tuned)
    others = {q["question"] for path, _ in HELDOUT_SETS.values() if path != questions for q in _questions(path)}
    assert not {q["question"] for q in heldout} & ({q["question"] for q in tuned} | others)
    assert {q["document"] for q in heldout} == {path.name for path in docs.iterdir()}
    # every kind of answer the tuning set asks for: a count, money, a year, a share, a date, a firm's name
    from docpipe.logic.ask_grounding import asks_for_name
    from docpipe.logic.ask_kinds import asked_kinds

    kinds = {asked_kinds(q["question"]) for q in heldout}
    for kind in ({"count"}, {"money"}, {"year"}, {"percent"}, {"date", "year"}):
        assert frozenset(kind) in kinds, kind
    assert any(asks_for_name(q["question"]) for q in heldout)


@pytest.mark.offline_only("asks through the runtime's in-process Ask function and reads its vector index directly")
@pytest.mark.parametrize("name", HELDOUT_SETS)
def test_retrieval_hit_at_3_on_the_held_out_questions(offline, heldout_indexed, name):
    assert _hit_at_3(_questions(HELDOUT_SETS[name][0])) >= HELDOUT_RETRIEVAL_FLOOR[name]


@pytest.mark.offline_only("asks through the runtime's in-process Ask function and reads its vector index directly")
@pytest.mark.parametrize("name", ANSWERED)
def test_answers_give_the_expected_figure_on_the_held_out_questions(offline, heldout_indexed, name):
    questions = _questions(HELDOUT_SETS[name][0])
    right = _answered(offline, questions)
    assert len(right) >= HELDOUT_ANSWERS_FLOOR[name] * len(questions)
    doc_ids = {name: result.result["doc_id"] for name, result in heldout_indexed.items()}
    for item in right:  # a right answer cites the document it comes from
        assert doc_ids[item["document"]] in {c["doc_id"] for c in item["citations"]}, item
