"""Finding, importing and starting a game: ``--game`` -> the [game] section of config.toml -> the
function that creates a game -> a started game. Every failure is a GameError saying what to do."""
import importlib
import os
import sys
import traceback
from pathlib import Path

from retro.input import ProgrammaticInput

from retro_gamer.errors import GameError
from retro_gamer.game.description import module_source_file
from retro_gamer.settings import KINDS

# Frames from these folders are retro-gamer's or Python's import machinery, not the game's.
NOT_THE_GAME = (str(Path(__file__).resolve().parents[1]), str(Path(importlib.__file__).resolve().parent))


def resolve_game(arg: str) -> dict:
    """The [game] section for a ``--game`` argument, in any form SPEC §8 names::

        retro.examples.snake              {module = "retro.examples.snake"}
        my_game.py, games/my_game.py      {module = "my_game", path = "/abs/games"}
        games/my_package/                 {module = "my_package", path = "/abs/games"}
        my_game:create_training_game      {module = "my_game", factory = "my_game:create_training_game"}
    """
    text, function = arg.strip(), None
    # "module:function", but not a Windows drive such as C:\games\snake.py.
    if ":" in text and not (len(text) > 2 and text[1] == ":" and text[2] in "\\/"):
        text, function = text.rsplit(":", 1)
        if not function.isidentifier():
            raise GameError(f"{arg!r} does not name a function after the colon.\nWrite the module, a colon "
                            "and the name of a function that returns a new game,\nfor example: --game "
                            "my_game:create_enemy_training_game")
    path = Path(text)
    if (text.endswith(".py") or "/" in text or os.sep in text) and not path.exists():
        raise GameError(f"There is no file or folder {text!r} (from --game {arg}).\nCheck the path.")
    if text.endswith(".py"):
        if not path.stem.isidentifier():
            raise GameError(f"The file name {path.name!r} cannot be imported as a Python module.\n"
                            "Rename it with letters, digits and underscores only, e.g. my_game.py.")
        section = {"module": path.stem, "path": str(path.resolve().parent)}
    elif path.is_dir():
        if not (path / "__init__.py").is_file():
            raise GameError(f"The folder {text!r} is not a Python package (it has no __init__.py).\nPoint "
                            "--game at the .py file that defines create_game(), for example\n--game "
                            f"{path / 'my_game.py'}, or add an __init__.py that defines create_game().")
        section = {"module": path.resolve().name, "path": str(path.resolve().parent)}
    elif not all(part.isidentifier() for part in text.split(".")):
        raise GameError(f"{text!r} is not a module name, a .py file or a package folder.\n"
                        "Examples: --game retro.examples.snake, --game my_game.py, --game games/my_game/")
    else:
        # The console script leaves off sys.path the current folder, where games usually are: look there last.
        cwd, saved = str(Path.cwd()), sys.path
        sys.path = [*saved, cwd]
        try:
            source = module_source_file(text)
        finally:
            sys.path = saved
        # Where it is imported from: one folder up per dotted part, one more for a package's __init__.py.
        root = source.parents[text.count(".") + (source.name == "__init__.py")]
        section = {"module": text}
        if (root == Path(cwd) or Path(cwd) in root.parents) and "site-packages" not in root.parts:
            section["path"] = str(root)  # train and play may not have it on sys.path
    if function is not None:
        section["factory"] = f"{section['module']}:{function}"
    return section


def add_game_path(game_section: dict) -> None:
    """Put the game's folder ([game].path) at the front of sys.path."""
    if (path := game_section.get("path")) and not Path(path).is_dir():
        raise GameError(f"The game's folder {path} (path in [game] of config.toml) does not exist any more.\n"
                        "If the game moved, correct path in config.toml, or run 'retro-gamer create' again.")
    if path and path not in sys.path:
        sys.path.insert(0, path)


def load_game_factory(game_section: dict):
    """The function that creates a new game: [game].factory, or the module's create_game."""
    if not game_section.get("module"):
        raise GameError(
            "config.toml does not say which game to play: its [game] section is missing.\n"
            "Add one naming the game's module, for example:\n\n"
            '[game]\nmodule = "retro.examples.snake"\n\n'
            "or create the run with 'retro-gamer create --game GAME --output RUN_DIR'.")
    add_game_path(game_section)
    if game_section.get("factory"):
        return load_function(game_section["factory"], "factory")
    return load_function(f"{game_section['module']}:create_game", "create_game")


def load_function(target: str, role: str):
    """Import ``"module:function"`` and return the function; ``role`` names its use."""
    module_name, _, function_name = target.partition(":")
    module = import_game_module(module_name)
    if (function := getattr(module, function_name, None)) is None:
        advice = f"Define {function_name} in {module_name}, or correct {role} = {target!r}."
        if role == "create_game":
            advice = (f"Add a function create_game() to {module_name} that returns a new Game, or name\n"
                      f"the function that does: --game {module_name}:my_function")
        where = getattr(module, "__file__", None) or "no source file"
        raise GameError(f"The module {module_name} ({where}) has no {function_name!r}.\n{advice}")
    if not callable(function):
        raise GameError(f"{target} is a {type(function).__name__}, not a function, so retro-gamer cannot "
                        f"call it.\nMake {function_name} a function in {module_name}.")
    return function


def import_game_module(module_name: str):
    """Import a game's module; every failure becomes a GameError saying what to do."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name + ".").startswith(error.name + "."):  # the game itself is missing
            raise GameError(
                f"Cannot import the game module {module_name!r}: it is not on the Python path.\n"
                "Run the command from the folder that contains it, or create the run again giving\n"
                "the file itself, for example: retro-gamer create --game path/to/my_game.py ...") from None
        raise GameError(f"The game module {module_name!r} imports {error.name!r}, which is not installed.\n"
                        f"Install it (pip install {error.name.split('.')[0]}), or remove that import from "
                        "the game.") from error
    except Exception as error:
        raise GameError(f"Importing the game module {module_name!r} failed: {type(error).__name__}: {error}\n"
                        f"Fix the game's code, check that it runs on its own with python -m {module_name}, "
                        f"then try\nagain. The game's traceback:\n{game_traceback(error)}") from error


def game_traceback(error: BaseException) -> str:
    """The traceback of an error in a game's code, without retro-gamer's and importlib's frames."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not (frame.filename.startswith("<frozen")
                      or str(Path(frame.filename).resolve()).startswith(NOT_THE_GAME))]
    return "".join(traceback.format_list(frames) + traceback.format_exception_only(error)).rstrip()


def describe_factory(create_game) -> str:
    """A readable name for a game factory, e.g. "retro.examples.snake.create_game"."""
    module = getattr(create_game, "__module__", None)
    name = getattr(create_game, "__qualname__", None) or type(create_game).__name__
    return f"{module}.{name}" if module else name


def build_game(create_game, name: str | None = None):
    """Call the game factory and check that it returned a retro-games Game with a board size."""
    name = name or describe_factory(create_game)
    try:
        game = create_game()
    except Exception as error:
        raise GameError(
            f"Creating a game with {name}() failed: {type(error).__name__}: {error}\n"
            "The factory must take no arguments and return a new retro.game.Game; fix it so that it\n"
            f"runs on its own, then try again. The game's traceback:\n{game_traceback(error)}") from error
    wrong = [f"no {a}" for a in ("board_size", "state", "playing", "start", "step", "get_agents_by_position")
             if not hasattr(game, a)]
    if not wrong and not KINDS["pair"][0](game.board_size):  # the check of board_size in config.toml
        wrong = [f"board_size = {game.board_size!r}, not (width, height), two positive whole numbers"]
    if wrong:
        raise GameError(f"{name}() returned {type(game).__name__}, not a retro-games Game that can be "
                        f"played ({', '.join(wrong)}).\nEnd the function with something like:\n"
                        "    return Game(agents, state, board_size=(32, 16))")
    return game


def start_headless(game) -> ProgrammaticInput:
    """Start ``game`` without a view (the learner reads agents, not a drawing) -> the input for its keys."""
    keys = ProgrammaticInput()
    game.input_source, game.view = keys, None
    game.start()
    return keys
