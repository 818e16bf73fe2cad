-- Prepare one chapter of the book (Pandoc + Typst fallback renderer, see render.py).
--
-- Run by Pandoc on the chapter (a notebook read as Markdown, or a .qmd) with its place in the book in
-- the environment variable CINREPORT_CHAPTER (JSON: label, page, folder, fallback_title, slug,
-- book/build metadata and profiles for conditional content). The filter
--   * keeps what a reader sees of a notebook: Markdown cells and the outputs of code cells, without
--     the code, stderr, errors and bare object reprs such as <Figure size 640x480 with 1 Axes>;
--   * applies Quarto's conditional content (.content-visible/.content-hidden with when-meta,
--     unless-meta, when-profile, unless-profile; a condition on the format is left as it is);
--   * turns Quarto callouts into Div.callout > Div.callout-title + Div.callout-body;
--   * puts the title first and numbers the chapter and its sections ("3", "3.1"; appendices "A.1");
--   * points images at figures/<page>/ (render.py copies them) and gives each one alt text;
--   * numbers figures and tables with fig-/tbl- ids per chapter ("Figure 3.2: ...");
-- and returns the document with one metadata field, `cinreport`: a JSON string with the chapter's
-- title, its cross-reference targets, the ids it cites, the relative links it makes and its images.

local ctx = pandoc.json.decode(os.getenv('CINREPORT_CHAPTER'), false)
local SCHEME = '^%a[%w+.-]*:'

local function text(x)
  return (pandoc.utils.stringify(x):gsub('%s+', ' '):gsub('^ ', ''):gsub(' $', ''))
end

local function slug(s)
  s = s:lower():gsub('[^a-z0-9_-]+', '-'):gsub('^-+', ''):gsub('-+$', '')
  return s ~= '' and s or 'chapter'
end

-- A bare object repr, as a notebook prints for a figure or a display object.
local function is_repr(s)
  s = s:gsub('^%s+', ''):gsub('%s+$', '')
  local head, rest = s:match('^(<[%w_.]+[^<>]*>)(.*)$')
  if not head or not (head:match('^<[%w_.]+ object') or head:match('^<[%w_.]+ at 0x%x+')
                      or head:match('^<[%w_.]+%s+size%s+%d+x%d+')) then
    return false
  end
  return rest:gsub('%s*<[^<>]*>', '') == ''
end

local function cells(blocks)
  local out = pandoc.Blocks{}
  for _, b in ipairs(blocks) do
    if b.t ~= 'Div' or not b.classes:includes('cell') then
      out:insert(b)
    elseif b.classes:includes('markdown') then
      out:extend(b.content)
    elseif b.classes:includes('code') then  -- its source is a CodeBlock outside any output Div
      for _, item in ipairs(b.content) do
        local kinds = item.t == 'Div' and item.classes
        if kinds and kinds:includes('output') and not kinds:includes('stderr') and not kinds:includes('error') then
          for _, inner in ipairs(item.content) do
            if not (inner.t == 'CodeBlock' and is_repr(inner.text) and not kinds:includes('stream')) then
              out:insert(inner)
            end
          end
        end
      end
    end  -- raw cells are dropped
  end
  return out
end

-- Quarto's when-meta: the value at a dotted path is boolean true.
local function meta_true(meta, path)
  local value = meta
  for key in path:gmatch('[^.]+') do
    if type(value) ~= 'table' then return false end
    value = value[key]
  end
  return value == true
end

-- Whether an element's conditions hold; nil when that turns on the output format (HTML and PDF
-- come from one document) and nothing else says no.
local function holds(el, meta, profiles)
  local on_format = false
  for key, value in pairs(el.attributes) do
    local ok
    if key == 'when-format' or key == 'unless-format' then
      on_format = true
    elseif key == 'when-meta' or key == 'unless-meta' then
      ok = meta_true(meta, value)
    elseif key == 'when-profile' or key == 'unless-profile' then
      ok = profiles:includes(value)
    end
    if ok ~= nil and ok == (key:sub(1, 7) == 'unless-') then return false end
  end
  if on_format then return nil end
  return true
end

local CONDITIONS = {'when-meta', 'unless-meta', 'when-profile', 'unless-profile', 'when-format', 'unless-format'}

local function conditional(meta, profiles)
  return function(el)
    local visible_class = el.classes:includes('content-visible')
    if not visible_class and not el.classes:includes('content-hidden') then return nil end
    local visible = holds(el, meta, profiles)
    if visible ~= nil and not visible_class then visible = not visible end
    if visible == nil then return nil end
    if not visible then return {} end
    if el.t == 'Div' then return el.content end
    el.classes = el.classes:filter(function(c) return c ~= 'content-visible' and c ~= 'content-hidden' end)
    for _, key in ipairs(CONDITIONS) do el.attributes[key] = nil end
    return el
  end
end

local CALLOUTS = {note = 'Note', tip = 'Tip', important = 'Important', warning = 'Warning', caution = 'Caution'}

local function callout(div)
  if div.classes:includes('callout') then return nil end
  local kind
  for _, c in ipairs(div.classes) do
    local k = c:match('^callout%-(.+)$')
    if k and CALLOUTS[k] then kind = k; break end
  end
  if not kind then return nil end
  local content, title = div.content, nil
  if (div.attributes.title or '') ~= '' then
    title = pandoc.Inlines(div.attributes.title)
  elseif content[1] and content[1].t == 'Header' then
    title = content:remove(1).content  -- a heading as the first element gives the title
  else
    title = pandoc.Inlines(CALLOUTS[kind])
  end
  local classes = pandoc.List{'callout', 'callout-' .. kind}
  classes:extend(div.classes:filter(function(c) return c ~= 'callout-' .. kind end))
  div.classes = classes
  for _, key in ipairs{'title', 'appearance', 'icon', 'collapse'} do div.attributes[key] = nil end
  div.content = {pandoc.Div(pandoc.Plain(title), {class = 'callout-title'}),
                 pandoc.Div(content, {class = 'callout-body'})}
  return div
end

-- Headers at top level or inside Divs (callouts, sections), in document order.
local function headers(blocks, found)
  found = found or pandoc.List{}
  for _, b in ipairs(blocks) do
    if b.t == 'Header' then found:insert(b) elseif b.t == 'Div' then headers(b.content, found) end
  end
  return found
end

local function decode_url(url)
  return (url:gsub('%%(%x%x)', function(hex) return string.char(tonumber(hex, 16)) end))
end

function Pandoc(doc)
  local blocks = cells(doc.blocks)
  local meta = {}
  for _, source in ipairs{ctx.book, doc.meta, ctx.build} do  -- the build's metadata wins, as Quarto's -M
    for key, value in pairs(source) do meta[key] = value end
  end
  local show = conditional(meta, pandoc.List(ctx.profiles))
  blocks = blocks:walk{Div = show, Span = show, CodeBlock = show}
  blocks = blocks:walk{Div = callout}

  -- The title goes first: from the front matter, else the first level-1 heading, else the file name.
  local meta_title = doc.meta.title
  if meta_title then
    local inlines = pandoc.utils.type(meta_title) == 'Inlines' and meta_title or pandoc.Inlines(text(meta_title))
    blocks:insert(1, pandoc.Header(1, inlines, {id = slug(text(inlines))}))
  end
  for i, b in ipairs(blocks) do
    if b.t == 'Header' and b.level == 1 then
      if i > 1 then blocks:insert(1, blocks:remove(i)) end
      break
    end
  end
  local heads = headers(blocks)
  if not heads:find_if(function(h) return h.level == 1 end) then
    blocks:insert(1, pandoc.Header(1, pandoc.Inlines(ctx.fallback_title), {id = ctx.slug}))
    heads = headers(blocks)
  end

  -- Numbers: the title gets the chapter's label, every other heading is a section under it.
  local label, counters, title, seen_title = ctx.label, {0, 0, 0, 0, 0, 0}, '', false
  for _, h in ipairs(heads) do
    local number = ''
    if h.level == 1 and not seen_title then
      seen_title, number = true, label
    else
      h.level = math.max(h.level, 2)
      if label ~= '' and not h.classes:includes('unnumbered') and not h.classes:includes('-') then
        counters[h.level - 1] = counters[h.level - 1] + 1
        local parts = {label}
        for i = 1, 6 do
          if i < h.level then parts[#parts + 1] = counters[i] else counters[i] = 0 end
        end
        number = table.concat(parts, '.')
      end
    end
    if number ~= '' then
      h.content = pandoc.Inlines{pandoc.Span(number, {class = 'header-section-number'}), pandoc.Space()} .. h.content
      h.attributes.number = number
    end
    if h.level == 1 then title = text(h.content) end
  end

  -- Images: copied by render.py into figures/<page>/; alt text from fig-alt, else the caption.
  local folder, used, images = 'figures/' .. ctx.page:gsub('%.html$', ''), {}, {}
  blocks = blocks:walk{traverse = 'topdown',
    Figure = function(fig)
      local caption = text(fig.caption.long)
      if caption == '' then return nil end
      fig.content = fig.content:walk{Image = function(img)
        if #img.caption == 0 then img.caption = pandoc.Inlines(caption) end
        return img
      end}
      return fig
    end,
    Image = function(img)
      local alt = img.attributes['fig-alt']
      if alt and alt ~= '' then
        img.caption = pandoc.Inlines(alt)
        img.attributes['fig-alt'] = nil
      end
      if #img.caption == 0 then img.caption = pandoc.Inlines('Figure from chapter ' .. title) end
      if img.src == '' or img.src:match(SCHEME) then return img end
      local path = decode_url(img.src)
      local source = pandoc.path.normalize(path)
      local name = pandoc.path.filename(path)
      local stem, ext = pandoc.path.split_extension(name)
      local k = 2
      while used[name] and used[name] ~= source do
        name, k = stem .. '-' .. k .. ext, k + 1
      end
      if not used[name] then
        used[name] = source
        images[#images + 1] = {img.src, folder .. '/' .. name}
      end
      img.src = folder .. '/' .. name
      return img
    end,
  }

  -- Cross-reference targets: sec- headings, and figures and tables numbered per chapter.
  local targets, counts = {}, {Figure = 0, Table = 0}
  local function number_float(el)
    local kind = el.identifier:match('^fig%-') and 'Figure' or el.identifier:match('^tbl%-') and 'Table'
    if not kind then return nil end
    counts[kind] = counts[kind] + 1
    local number = label ~= '' and (label .. '.' .. counts[kind]) or tostring(counts[kind])
    targets[el.identifier] = {kind, number}
    local caption = el.caption
    local long = caption.long
    if long[1] and (long[1].t == 'Plain' or long[1].t == 'Para') then
      long[1].content = pandoc.Inlines{pandoc.Str(kind), pandoc.Space(), pandoc.Str(number .. ':'), pandoc.Space()} .. long[1].content
    else
      long:insert(1, pandoc.Plain{pandoc.Str(kind), pandoc.Space(), pandoc.Str(number .. ':')})
    end
    caption.long = long
    el.caption = caption
    return el
  end
  blocks = blocks:walk{traverse = 'topdown',
    Header = function(h)
      if h.identifier:match('^sec%-') then
        targets[h.identifier] = {h.level == 1 and 'Chapter' or 'Section', h.attributes.number or text(h.content)}
      end
    end,
    Figure = number_float,
    Table = number_float,
  }

  -- What the chapter's links depend on: the ids it cites and the other files it links to.
  local cites, links = {}, {}
  blocks:walk{
    Cite = function(c) for _, citation in ipairs(c.citations) do cites[#cites + 1] = citation.id end end,
    Link = function(l)
      if not (l.target:match(SCHEME) or l.target:sub(1, 1) == '#') then links[#links + 1] = l.target end
    end,
  }
  local info = {title = title, targets = targets, cites = cites, links = links, images = images}
  return pandoc.Pandoc(blocks, {cinreport = pandoc.json.encode(info)})
end
