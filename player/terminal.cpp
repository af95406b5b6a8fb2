#include "player/terminal.h"

#include <algorithm>
#include <array>
#include <new>

namespace portcullis::player {
namespace {

// libvterm marks the right half of a wide character with this code point.
constexpr std::uint32_t kWideContinuation = static_cast<std::uint32_t>(-1);

// Sequences that switch to the alternate screen (xterm 1049, and the older 47 and 1047).
constexpr std::array<std::string_view, 3> kAltScreenEnter = {"\x1b[?1049h", "\x1b[?1047h",
                                                             "\x1b[?47h"};

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void trim_right(std::string& text) { text.erase(text.find_last_not_of(' ') + 1); }

std::string color_sgr(const VTermColor& color, bool foreground) {
  if (foreground ? VTERM_COLOR_IS_DEFAULT_FG(&color) : VTERM_COLOR_IS_DEFAULT_BG(&color)) {
    return foreground ? "39" : "49";
  }
  const char* base = foreground ? "38" : "48";
  if (VTERM_COLOR_IS_RGB(&color)) {
    return std::string(base) + ";2;" + std::to_string(color.rgb.red) + ";" +
           std::to_string(color.rgb.green) + ";" + std::to_string(color.rgb.blue);
  }
  return std::string(base) + ";5;" + std::to_string(color.indexed.idx);
}

// The SGR sequence that sets a cell's attributes from scratch.
std::string cell_sgr(const VTermScreenCell& cell) {
  std::string sgr = "\x1b[0";
  if (cell.attrs.bold) sgr += ";1";
  if (cell.attrs.italic) sgr += ";3";
  if (cell.attrs.underline) sgr += ";4";
  if (cell.attrs.blink) sgr += ";5";
  if (cell.attrs.reverse) sgr += ";7";
  if (cell.attrs.strike) sgr += ";9";
  return sgr + ";" + color_sgr(cell.fg, true) + ";" + color_sgr(cell.bg, false) + "m";
}

std::string move_to(int row, int col) {
  return "\x1b[" + std::to_string(row + 1) + ";" + std::to_string(col + 1) + "H";
}

// Draws every cell of a grid (no clearing first, so a replay does not flicker) and leaves the
// cursor where the grid had it. `for_viewer`: for a real terminal, controls made visible
// (cell_text); otherwise for libvterm restoring a keyframe, exact.
std::string paint_grid(const Grid& grid, bool for_viewer) {
  std::string out = "\x1b[0m";
  std::string last_sgr = "\x1b[0m";
  for (int row = 0; row < grid.rows; ++row) {
    out += move_to(row, 0);
    for (int col = 0; col < grid.cols; ++col) {
      const VTermScreenCell& cell = grid.cells[grid.index(row, col)];
      if (cell.chars[0] == kWideContinuation) continue;
      std::string sgr = cell_sgr(cell);
      if (sgr != last_sgr) out += sgr;
      last_sgr = std::move(sgr);
      out += cell_text(cell, for_viewer);
    }
  }
  return out + "\x1b[0m" + move_to(grid.cursor.row, grid.cursor.col);
}

// Notes the sequences in `bytes` that change a watched setting.
void watch(std::string_view bytes, WatchedSettings& settings) {
  for (std::size_t at = bytes.find("\x1b["); at != std::string_view::npos;
       at = bytes.find("\x1b[", at + 2)) {
    const std::size_t end = bytes.find_first_not_of("0123456789;?", at + 2);
    if (end == std::string_view::npos) return;
    const std::string_view params = bytes.substr(at + 2, end - at - 2);
    const std::string_view sequence = bytes.substr(at, end + 1 - at);
    const char final = bytes[end];
    // "CSI ? ... r" is xterm's restore of private modes, not a scroll region.
    if (final == 'r' && params.find('?') == std::string_view::npos) {
      settings.scroll_region = sequence;
    }
    if (final == 'h' || final == 'l') {
      if (params == "?7") settings.autowrap = sequence;
      if (params == "4") settings.insert = sequence;
    }
  }
}

}  // namespace

int clamp_cols(int cols) { return cols <= 0 ? 80 : std::min(cols, kMaxTerminalCols); }

int clamp_rows(int rows) { return rows <= 0 ? 24 : std::min(rows, kMaxTerminalRows); }

std::string cell_text(const VTermScreenCell& cell, bool painted) {
  if (cell.chars[0] == kWideContinuation) return "";
  if (cell.chars[0] == 0) return " ";
  std::string text;
  for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0; ++i) {
    const std::uint32_t cp = cell.chars[i];
    const bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp > 0x10FFFF;
    append_utf8(text, painted && control ? 0xFFFD : cp);
  }
  return text;
}

const VTermScreenCallbacks Terminal::kCallbacks = {
    .damage = &Terminal::on_damage,
    .moverect = nullptr,
    .movecursor = nullptr,
    .settermprop = &Terminal::on_settermprop,
    .bell = nullptr,
    .resize = nullptr,
    .sb_pushline = &Terminal::on_pushline,
    .sb_popline = nullptr,
};

Terminal::Terminal(int cols, int rows)
    : vt_(vterm_new(clamp_rows(rows), clamp_cols(cols))),
      cols_(clamp_cols(cols)),
      rows_(clamp_rows(rows)),
      dirty_(static_cast<std::size_t>(rows_)) {
  if (!vt_) throw std::bad_alloc();
  vterm_set_utf8(vt_.get(), 1);
  // Replies to queries (vim asks for the cursor position) would fill libvterm's output buffer.
  vterm_output_set_callback(
      vt_.get(), [](const char*, size_t, void*) {}, nullptr);
  screen_ = vterm_obtain_screen(vt_.get());
  vterm_screen_set_callbacks(screen_, &kCallbacks, this);
  vterm_screen_enable_altscreen(screen_, 1);
  vterm_screen_reset(screen_, 1);
}

Terminal::Terminal(const Snapshot& snapshot)
    : Terminal(snapshot.visible.cols, snapshot.visible.rows) {
  if (snapshot.primary) {
    restore_grid(*snapshot.primary);
    write(kAltScreenEnter[0]);
  }
  restore_grid(snapshot.visible);
  if (!snapshot.cursor_visible) write("\x1b[?25l");
  // Setting the region homes the cursor: put it back, then take up the pen and the modes.
  const VTermPos cursor = snapshot.visible.cursor;
  const WatchedSettings& settings = snapshot.settings;
  write(settings.scroll_region + move_to(cursor.row, cursor.col) + cell_sgr(snapshot.pen) +
        settings.autowrap + settings.insert);
}

void Terminal::restore_grid(const Grid& grid) { write_raw(paint_grid(grid, false)); }

void Terminal::write(std::string_view bytes) {
  // libvterm switches buffers before it reports the switch, so the shell's screen is copied
  // just before the sequence that hides it: leaving a restored keyframe shows it again.
  while (!alt_screen_) {
    std::size_t at = std::string_view::npos;
    for (std::string_view enter : kAltScreenEnter) at = std::min(at, bytes.find(enter));
    if (at == std::string_view::npos) break;
    write_raw(bytes.substr(0, at));
    primary_ = grid();
    const std::size_t rest = at + bytes.substr(at).find('h') + 1;
    write_raw(bytes.substr(at, rest - at));
    bytes.remove_prefix(rest);
  }
  write_raw(bytes);
}

void Terminal::write_raw(std::string_view bytes) {
  if (bytes.empty()) return;
  watch(bytes, settings_);
  vterm_input_write(vt_.get(), bytes.data(), bytes.size());
}

void Terminal::resize(int cols, int rows) {
  if (cols <= 0 || rows <= 0) return;
  cols = clamp_cols(cols);
  rows = clamp_rows(rows);
  if (cols == cols_ && rows == rows_) return;
  // Terminals (xterm among them) forget the scroll region on a resize, and libvterm 0.1.4 must
  // not keep one that no longer fits: it memmoves a negative size at the next scroll (found by
  // player_render_fuzz). Resetting it homes the cursor, so the cursor is put back.
  if (!settings_.scroll_region.empty()) {
    const VTermPos at = cursor();
    const std::string reset = "\x1b[r" + move_to(at.row, at.col);
    vterm_input_write(vt_.get(), reset.data(), reset.size());
    settings_.scroll_region.clear();
  }
  cols_ = cols;
  rows_ = rows;
  dirty_.assign(static_cast<std::size_t>(rows), true);
  vterm_set_size(vt_.get(), rows, cols);
  // libvterm 0.1.4 moves the cursor up by the lines a shrink scrolls away without stopping at
  // the top, and the next write then reads outside its line table (found by player_render_fuzz):
  // put the cursor back on the screen at once.
  const VTermPos at = cursor();
  if (at.row < 0 || at.row >= rows || at.col < 0 || at.col >= cols) {
    const std::string home =
        move_to(std::clamp(at.row, 0, rows - 1), std::clamp(at.col, 0, cols - 1));
    vterm_input_write(vt_.get(), home.data(), home.size());
  }
}

VTermPos Terminal::cursor() const {
  VTermPos pos;
  vterm_state_get_cursorpos(vterm_obtain_state(vt_.get()), &pos);
  return pos;
}

std::string Terminal::row_text(int row, int from, int to) const {
  std::string text;
  VTermScreenCell cell;
  for (VTermPos pos{row, from}; pos.col < (to < 0 ? cols_ : std::min(to, cols_)); ++pos.col) {
    vterm_screen_get_cell(screen_, pos, &cell);
    text += cell_text(cell);
  }
  trim_right(text);
  return text;
}

Screen Terminal::screen() const {
  Screen screen;
  screen.cols = cols_;
  screen.rows = rows_;
  for (int row = 0; row < rows_; ++row) screen.lines.push_back(row_text(row));
  const VTermPos pos = cursor();
  screen.cursor_row = pos.row;
  screen.cursor_col = pos.col;
  screen.cursor_visible = cursor_visible_;
  screen.alt_screen = alt_screen_;
  return screen;
}

Grid Terminal::grid() const {
  Grid grid{cols_, rows_,
            std::vector<VTermScreenCell>(static_cast<std::size_t>(cols_) *
                                         static_cast<std::size_t>(rows_)),
            cursor()};
  for (int row = 0; row < rows_; ++row) {
    for (int col = 0; col < cols_; ++col) {
      vterm_screen_get_cell(screen_, VTermPos{row, col}, &grid.cells[grid.index(row, col)]);
    }
  }
  return grid;
}

VTermScreenCell Terminal::pen() const {
  const VTermState* state = vterm_obtain_state(vt_.get());
  const auto attr = [state](VTermAttr which) {
    VTermValue value{};
    vterm_state_get_penattr(state, which, &value);
    return value;
  };
  VTermScreenCell pen{};
  pen.attrs.bold = attr(VTERM_ATTR_BOLD).boolean ? 1 : 0;
  pen.attrs.underline = static_cast<unsigned>(attr(VTERM_ATTR_UNDERLINE).number) & 3U;
  pen.attrs.italic = attr(VTERM_ATTR_ITALIC).boolean ? 1 : 0;
  pen.attrs.blink = attr(VTERM_ATTR_BLINK).boolean ? 1 : 0;
  pen.attrs.reverse = attr(VTERM_ATTR_REVERSE).boolean ? 1 : 0;
  pen.attrs.strike = attr(VTERM_ATTR_STRIKE).boolean ? 1 : 0;
  pen.fg = attr(VTERM_ATTR_FOREGROUND).color;
  pen.bg = attr(VTERM_ATTR_BACKGROUND).color;
  return pen;
}

Snapshot Terminal::snapshot() const {
  Snapshot snapshot{grid(), std::nullopt, cursor_visible_, pen(), settings_};
  if (alt_screen_) snapshot.primary = primary_;
  return snapshot;
}

std::string Terminal::paint() const {
  return paint_grid(grid(), true) + (cursor_visible_ ? "\x1b[?25h" : "\x1b[?25l");
}

std::vector<bool> Terminal::take_dirty() {
  std::vector<bool> dirty(static_cast<std::size_t>(rows_), false);
  dirty.swap(dirty_);
  return dirty;
}

int Terminal::on_damage(VTermRect rect, void* user) {
  auto* self = static_cast<Terminal*>(user);
  const int end = std::min(rect.end_row, self->rows_);
  for (int row = std::max(rect.start_row, 0); row < end; ++row) {
    self->dirty_[static_cast<std::size_t>(row)] = true;
  }
  return 1;
}

int Terminal::on_settermprop(VTermProp prop, VTermValue* value, void* user) {
  auto* self = static_cast<Terminal*>(user);
  if (prop == VTERM_PROP_ALTSCREEN) self->alt_screen_ = value->boolean != 0;
  if (prop == VTERM_PROP_CURSORVISIBLE) self->cursor_visible_ = value->boolean != 0;
  return 1;
}

int Terminal::on_pushline(int cols, const VTermScreenCell* cells, void* user) {
  auto* self = static_cast<Terminal*>(user);
  ++self->scrolled_;
  if (!self->on_scroll) return 1;
  std::string line;
  for (int col = 0; col < cols; ++col) line += cell_text(cells[col]);
  trim_right(line);
  self->on_scroll(std::move(line));
  return 1;
}

}  // namespace portcullis::player
