"""Split a T-SQL batch into statements, as SQL Server's parser delimits them.

T-SQL needs no ``;`` between statements: ``SET TEXTSIZE 2147483647`` and
``SET XACT_ABORT OFF`` on the next line are two statements, and so are
``SET FMTONLY ON select ... SET FMTONLY OFF``.  sqlglot parses one statement at
a time well but swallows such a run of statements into one ``Command``; this
module finds the boundaries first, on sqlglot's tokens (so strings, comments and
bracketed names are never split), and builds the small control-flow tree
(``IF ... ELSE``, ``BEGIN ... END``) that installers and ORMs send.

A new statement starts at a statement keyword (SELECT, INSERT, SET, DROP, IF, ...)
outside parentheses and CASE, unless the keyword continues the statement in hand
(``UNION SELECT``, ``INSERT INTO t SELECT``, ``UPDATE t SET``, ``ALTER TABLE t
DROP COLUMN``, ``ON DELETE SET NULL``, ``DROP TABLE IF EXISTS``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.dialect import StandinTSQL

# Keywords that begin a statement. WITH is absent: T-SQL requires a ';' before a CTE.
_STARTS = frozenset(
    "SELECT INSERT UPDATE DELETE MERGE CREATE DROP ALTER TRUNCATE USE BEGIN COMMIT ROLLBACK SAVE "
    "SET IF ELSE EXEC EXECUTE PRINT DECLARE RAISERROR RETURN WAITFOR GRANT REVOKE DENY".split())
# After one of these, a statement keyword continues the statement (UNION SELECT, CREATE VIEW
# v AS SELECT, ON DELETE SET NULL, THEN UPDATE, CREATE OR ALTER, GRANT SELECT, INSERT...).
_CONTINUES_AFTER = frozenset(
    "UNION ALL EXCEPT INTERSECT AS ON THEN FOR OR , ( DELETE UPDATE INSERT GRANT REVOKE DENY "
    "AFTER OF INSTEAD".split())
_OBJECT_KINDS = frozenset(
    "TABLE VIEW INDEX DATABASE SCHEMA PROCEDURE PROC FUNCTION TRIGGER SEQUENCE TYPE USER LOGIN "
    "SYNONYM STATISTICS".split())
# Words that may follow BEGIN without opening a BEGIN ... END block.
_BEGIN_STATEMENTS = frozenset({"TRAN", "TRANSACTION", "DISTRIBUTED"})
_SOURCES = frozenset({"SELECT", "VALUES", "EXEC", "EXECUTE", "DEFAULT"})
_VERBS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"})
# Quoted names and literals are never keywords.
_NOT_WORDS = frozenset({TokenType.IDENTIFIER, TokenType.STRING, TokenType.NATIONAL_STRING,
                        TokenType.HEX_STRING, TokenType.BIT_STRING, TokenType.NUMBER})


@dataclass
class Stmt:
    text: str
    # The statement's tokens, so the parser does not tokenize the text a second time
    # (half the cost of a 5,000-row INSERT ... VALUES batch).
    tokens: list[Token] = field(default_factory=list, repr=False, compare=False)
    source: str = field(default="", repr=False, compare=False)  # the batch: token offsets are into it


@dataclass
class SetStmt:
    """``SET option[, option...] value`` (options lower-case; no options for ``SET @var = ...``)."""

    text: str
    options: list[str]
    value: str


@dataclass
class IfStmt:
    condition: str
    then: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


Node = Stmt | SetStmt | IfStmt


def split_batch(sql: str) -> list[Node]:
    try:
        tokens = StandinTSQL().tokenize(sql)
    except TokenError as e:
        raise SqlError(105, f"Unclosed quotation mark after the character string '{sql[-20:]}'.",
                       severity=15) from e
    return _Splitter(sql, tokens).batch()


def _syntax(near: str) -> SqlError:
    if near.upper() in _STARTS | {"END", "ELSE"}:
        return SqlError(156, f"Incorrect syntax near the keyword '{near}'.", severity=15)
    return SqlError(102, f"Incorrect syntax near '{near}'.", severity=15)


class _Splitter:
    def __init__(self, sql: str, tokens: list[Token]) -> None:
        self.sql = sql
        self.toks = tokens
        self.i = 0
        self._cte = False
        # Upper-case text of each token that can be a keyword ('' for names and literals),
        # computed once: the statement loop below visits every token of the batch.
        self.words = ["" if t.token_type in _NOT_WORDS else t.text.upper() for t in tokens]

    # ------------------------------------------------------------ tokens
    def word(self, k: int) -> str:
        """Upper-case text of token ``k`` if it can be a keyword, else ''."""
        return self.words[k] if k < len(self.words) else ""

    def text(self, first: int, last: int) -> str:
        return self.sql[self.toks[first].start : self.toks[last].end + 1]

    def at_end(self) -> bool:
        return self.i >= len(self.toks)

    # ------------------------------------------------------------ structure
    def batch(self) -> list[Node]:
        nodes: list[Node] = []
        while not self.at_end():
            if self.toks[self.i].token_type == TokenType.SEMICOLON:
                self.i += 1
                continue
            if self.word(self.i) in ("END", "ELSE"):
                raise _syntax(self.toks[self.i].text)
            nodes.extend(self.statement())
        return nodes

    def statement(self) -> list[Node]:
        """One statement, IF or BEGIN ... END block (flattened) at ``self.i``."""
        w = self.word(self.i)
        if w == "IF":
            return [self.if_statement()]
        if w == "BEGIN" and self.word(self.i + 1) not in _BEGIN_STATEMENTS:
            if self.word(self.i + 1) in ("TRY", "CATCH"):
                raise SqlError(50000, "The SQL Server stand-in does not support BEGIN TRY ... END CATCH.")
            return self.block()
        if w == "SET":
            return [self.set_statement()]
        first, last = self.simple()
        return [Stmt(self.text(first, last), self.toks[first : last + 1], self.sql)]

    def block(self) -> list[Node]:
        begin = self.toks[self.i]
        self.i += 1
        nodes: list[Node] = []
        while True:
            if self.at_end():
                raise SqlError(102, f"Incorrect syntax near '{begin.text}'.", severity=15)
            if self.toks[self.i].token_type == TokenType.SEMICOLON:
                self.i += 1
                continue
            if self.word(self.i) == "END":
                self.i += 1
                return nodes
            if self.word(self.i) == "ELSE":
                raise _syntax(self.toks[self.i].text)
            nodes.extend(self.statement())

    def if_statement(self) -> IfStmt:
        self.i += 1
        first = self.i
        depth = 0  # parentheses and CASE ... END
        while not self.at_end():
            t = self.toks[self.i]
            w = self.word(self.i)
            if t.token_type == TokenType.L_PAREN or w == "CASE":
                depth += 1
            elif t.token_type == TokenType.R_PAREN or (w == "END" and depth > 0):
                depth -= 1
            elif depth == 0 and w in _STARTS and self.i > first:
                break
            self.i += 1
        if self.i == first or self.at_end():
            raise _syntax(self.toks[min(self.i, len(self.toks) - 1)].text if self.toks else "IF")
        node = IfStmt(self.text(first, self.i - 1))
        node.then = self.branch()
        k = self.i
        while k < len(self.toks) and self.toks[k].token_type == TokenType.SEMICOLON:
            k += 1
        if self.word(k) == "ELSE":
            self.i = k + 1
            node.orelse = self.branch()
        return node

    def branch(self) -> list[Node]:
        while not self.at_end() and self.toks[self.i].token_type == TokenType.SEMICOLON:
            self.i += 1
        if self.at_end() or self.word(self.i) in ("END", "ELSE"):
            near = self.toks[self.i].text if not self.at_end() else self.toks[self.i - 1].text
            raise _syntax(near)
        return self.statement()

    # ------------------------------------------------------------ statements
    def set_statement(self) -> SetStmt:
        first = self.i
        self.i += 1
        if self.at_end():
            raise _syntax("SET")
        if self.toks[self.i].token_type == TokenType.PARAMETER:
            _, last = self.simple(first)
            return SetStmt(self.text(first, last), [], "")
        options = [self.toks[self.i].text.lower()]
        self.i += 1
        while self.i < len(self.toks) - 1 and self.toks[self.i].token_type == TokenType.COMMA:
            options.append(self.toks[self.i + 1].text.lower())
            self.i += 2
        if options[0] in ("statistics", "offsets"):  # SET STATISTICS IO, TIME ON
            while not self.at_end() and self.word(self.i) not in ("ON", "OFF"):
                if self.toks[self.i].token_type != TokenType.COMMA:
                    options.append(self.toks[self.i].text.lower())
                self.i += 1
            options = [options[0]]
        if self.at_end():
            raise _syntax(self.toks[-1].text)
        value = self.toks[self.i].text
        if self.toks[self.i].token_type == TokenType.DASH and self.i + 1 < len(self.toks):
            self.i += 1
            value = "-" + self.toks[self.i].text
        elif self.toks[self.i].token_type == TokenType.HEX_STRING:
            value = "0x" + value
        self.i += 1
        return SetStmt(self.text(first, self.i - 1), options, value)

    def simple(self, first: int | None = None) -> tuple[int, int]:
        """Token range of one plain statement starting at ``first`` (default ``self.i``)."""
        first = self.i if first is None else first
        head = self.word(first)
        self.i = first + 1
        depth = 0  # parentheses
        cases = 0  # CASE ... END
        seen: set[str] = set()
        self._cte = head == "WITH"  # a WITH <name> AS (...) still waits for its statement
        toks, words, n = self.toks, self.words, len(self.toks)
        lparen, rparen, semicolon = TokenType.L_PAREN, TokenType.R_PAREN, TokenType.SEMICOLON
        i = self.i
        while i < n:
            tt = toks[i].token_type
            w = words[i]
            if tt is lparen:
                depth += 1
            elif tt is rparen:
                depth -= 1
            elif depth:
                pass
            elif tt is semicolon:
                if not cases:
                    break
            elif not w:
                pass
            elif w == "CASE":
                cases += 1
            elif cases:
                if w == "END":
                    cases -= 1
            else:
                if w in ("END", "ELSE"):
                    break
                self.i = i
                if w in _STARTS and not self._continues(head, w, seen):
                    break
                if w == "WITH" and self._is_cte(i):
                    self._cte = True
                elif w in _VERBS:
                    self._cte = False
                seen.add(w)
            i += 1
        self.i = i
        return first, self.i - 1

    def _is_cte(self, k: int) -> bool:
        """WITH at ``k`` opens a common table expression: WITH name [(cols)] AS (."""
        k += 1
        if k >= len(self.toks) or self.toks[k].token_type in (TokenType.L_PAREN, TokenType.STRING):
            return False  # WITH (NOLOCK), WITH (FILLFACTOR = 80)
        k += 1
        if k < len(self.toks) and self.toks[k].token_type == TokenType.L_PAREN:
            depth = 0
            while k < len(self.toks):
                depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(self.toks[k].token_type, 0)
                k += 1
                if depth == 0:
                    break
        return self.word(k) == "AS" and k + 1 < len(self.toks) and self.toks[k + 1].token_type == TokenType.L_PAREN

    def _continues(self, head: str, w: str, seen: set[str]) -> bool:
        prev = self.word(self.i - 1) or self.toks[self.i - 1].text
        nxt = self.word(self.i + 1)
        if prev.upper() in _CONTINUES_AFTER:
            return True
        if head == "INSERT" and w in _SOURCES and not seen & _SOURCES:
            return True
        if self._cte and w in _VERBS:  # CREATE VIEW v AS WITH c AS (...) SELECT ...
            return True
        if head == "MERGE" and w in ("INSERT", "UPDATE", "DELETE", "SET"):
            return True
        if w == "SET" and head in ("UPDATE", "ALTER") and "SET" not in seen:
            return True
        if head == "ALTER" and w in ("ALTER", "DROP") and nxt not in _OBJECT_KINDS:
            return True
        if w == "IF" and nxt == "EXISTS" and prev.upper() in _OBJECT_KINDS:
            return True
        return False
