"""rea.memory — see DESIGN.md §2 (filled in by later issues)."""

# The experiment store (SQL journal, budget ledger): see docs/store.md.
# The research library (technique cards + Chroma index) and the optional arXiv source:
# see docs/research-library.md. Neither import pulls in chromadb until a library is opened.
from .arxiv import ArxivClient as ArxivClient
from .arxiv import ArxivError as ArxivError
from .arxiv import ArxivPaper as ArxivPaper
from .db import default_database_url as default_database_url
from .db import make_engine as make_engine
from .errors import BudgetExceeded as BudgetExceeded
from .errors import DuplicateKey as DuplicateKey
from .errors import IllegalTransition as IllegalTransition
from .errors import InvalidValue as InvalidValue
from .errors import NotFound as NotFound
from .errors import StoreError as StoreError
from .ledger import BudgetStatus as BudgetStatus
from .ledger import PhaseUsage as PhaseUsage
from .research import ResearchCard as ResearchCard
from .research import ResearchLibrary as ResearchLibrary
from .research import ScoredCard as ScoredCard
from .research import load_cards as load_cards
from .store import ExperimentStore as ExperimentStore

# The historical-insight memory (Chroma) and the importers of past experiments: docs/memory.md.
# Loaded on first use (PEP 562), so `import rea.memory` stays light: the embedders pull in
# chromadb and torch only when asked for.
_LAZY = {
    **dict.fromkeys(
        ("Effect", "Evidence", "Insight", "InsightMemory", "ScoredInsight"), ".insights"
    ),
    **dict.fromkeys(("ImportResult", "PastRun"), ".past_runs"),
    **dict.fromkeys(
        ("import_into", "import_mlflow", "import_optuna", "import_table"), ".importers"
    ),
    **dict.fromkeys(("MiniLMEmbedder", "OpenAIEmbedder", "default_embedder"), ".embeddings"),
    **dict.fromkeys(("open_chroma", "get_collection"), ".chroma"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
