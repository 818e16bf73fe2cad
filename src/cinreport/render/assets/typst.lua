-- The whole book as one Typst document for the PDF (Pandoc + Typst fallback renderer, see render.py).
--
-- The document holds one Div.cinreport-chapter per chapter in the PDF (attributes page, path and
-- group: the part or "Appendices" it belongs to), each with the chapter as chapter.lua prepared it,
-- and the metadata field `cinreport-book`, a JSON string: {targets = {id: [kind, number, page]} of the
-- whole book, links = {page: {link as written: page}}}. Run from the book's folder (images are read
-- for their size). The filter
--   * makes ids unique across chapters and points references and links at ids in this document
--     (Typst rejects links to missing or repeated labels); a link whose target is not in the PDF
--     keeps only its text;
--   * sizes tables by their content, and figures to the text width unless that makes them taller
--     than MAX_HEIGHT_CM; keeps short tables on one page;
--   * writes callouts as #callout(kind:, title:)[body] (defined in book.typ);
--   * starts each chapter on a new page, with a part page before each part.

local SCHEME = '^%a[%w+.-]*:'
local CALLOUTS = {note = true, tip = true, important = true, warning = true, caution = true}
local KEEP_ROWS = 12  -- tables with at most this many body rows are kept on one page
local TEXT_WIDTH_CM, MAX_HEIGHT_CM = 21.0 - 2 * 2.2, 10.5  -- A4 with book.typ's margins

local function raw(code) return pandoc.RawBlock('typst', code) end

-- Inlines as Typst markup, escaped by Pandoc's Typst writer (for content arguments: [..]).
local function markup(inlines)
  return (pandoc.write(pandoc.Pandoc{pandoc.Plain(inlines)}, 'typst'):gsub('%s+$', ''))
end

local function image_width(src)
  local fh = io.open((src:gsub('%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end)), 'rb')
  if not fh then return '100%' end
  local ok, size = pcall(pandoc.image.size, fh:read('a'))
  fh:close()
  if not ok or not size or size.height == 0 then return '100%' end
  local width = math.min(TEXT_WIDTH_CM, MAX_HEIGHT_CM * size.width / size.height)
  return string.format('%d%%', math.floor(100 * width / TEXT_WIDTH_CM + 0.5))
end

local function callout(div)
  if not div.classes:includes('callout') then return nil end
  local kind = 'note'
  for _, c in ipairs(div.classes) do
    local k = c:match('^callout%-(.+)$')
    if k and CALLOUTS[k] then kind = k; break end
  end
  local title, body = nil, pandoc.Blocks{}
  for _, b in ipairs(div.content) do
    if b.t == 'Div' and b.classes:includes('callout-title') then
      title = title or pandoc.utils.blocks_to_inlines(b.content)
    elseif b.t == 'Div' and b.classes:includes('callout-body') then
      body:extend(b.content)
    else
      body:insert(b)
    end
  end
  local heading = title and markup(title) or ''
  heading = heading ~= '' and '[' .. heading .. ']' or 'none'
  local out = pandoc.Blocks{raw('#callout(kind: "' .. kind .. '", title: ' .. heading .. ')[')}
  out:extend(body)
  out:insert(raw(']' .. (div.identifier ~= '' and ' <' .. div.identifier .. '>' or '')))
  return out
end

local function table_block(tbl)
  for i, spec in ipairs(tbl.colspecs) do tbl.colspecs[i] = {spec[1], pandoc.ColWidthDefault} end
  local rows = 0
  for _, body in ipairs(tbl.bodies) do rows = rows + #body.body end
  if rows > KEEP_ROWS then return tbl end
  return {raw('#block(breakable: false, width: 100%)['), tbl, raw(']')}
end

local function part_page(title)
  return raw('#pagebreak(weak: true)\n#page(header: none)[\n  #set align(center + horizon)\n'
             .. '  #heading(level: 1, outlined: true, bookmarked: true, [' .. markup(pandoc.Inlines(title)) .. '])\n]')
end

function Pandoc(doc)
  local book = pandoc.json.decode(doc.meta['cinreport-book'], false)
  doc.meta['cinreport-book'] = nil
  local chapters, seen, renames, titles = doc.blocks, {}, {}, {}
  for _, chapter in ipairs(chapters) do  -- first every id, so links can point forwards
    local page = chapter.attributes.page
    local stem, names = page:gsub('%.html$', ''), {}
    renames[page] = names
    local function rename(el)
      local old = el.identifier
      if old == '' then return nil end
      if seen[old] then el.identifier = stem .. '-' .. old end
      names[old], seen[el.identifier] = el.identifier, true
      return el
    end
    chapter.content = chapter.content:walk{traverse = 'topdown', Header = rename, Div = rename, Span = rename,
                                           Figure = rename, Table = rename, CodeBlock = rename, Image = rename}
    local title = chapter.content:find_if(function(b) return b.t == 'Header' and b.level == 1 end)
    titles[page] = title and title.identifier
  end

  local function anchor(here, target)  -- "page#id" or "#id" -> the id in this document, or nil
    local page, fragment = target:match('^([^#]*)#?(.*)$')
    page = page ~= '' and page or here
    if fragment ~= '' then return renames[page] and renames[page][fragment] end
    return titles[page]
  end

  local out, group = pandoc.Blocks{}, ''
  for _, chapter in ipairs(chapters) do
    local page, links = chapter.attributes.page, book.links[chapter.attributes.page] or {}
    local blocks = chapter.content:walk{
      Cite = function(cite)
        local inlines = pandoc.Inlines{}
        for i, citation in ipairs(cite.citations) do
          local target = book.targets[citation.id]
          if not target then return nil end
          if i > 1 then inlines:extend{pandoc.Str(','), pandoc.Space()} end
          local text, id = pandoc.Inlines(target[1] .. ' ' .. target[2]), anchor(page, target[3] .. '#' .. citation.id)
          inlines:insert(id and pandoc.Link(text, '#' .. id, '', {class = 'quarto-xref'}) or pandoc.Span(text))
        end
        return pandoc.Span(inlines)
      end,
      Link = function(link)
        if link.target:match(SCHEME) then return nil end
        local file, fragment = link.target:match('^([^#]*)#?(.*)$')
        local target = links[file] and (links[file] .. (fragment ~= '' and '#' .. fragment or '')) or link.target
        local id = anchor(page, target)
        if not id then return pandoc.Span(link.content, link.attr) end
        link.target = '#' .. id
        return link
      end,
      Image = function(img)
        if not img.attributes.width and not img.attributes.height then img.attributes.width = image_width(img.src) end
        return img
      end,
    }
    blocks = blocks:walk{Table = table_block, Div = callout}
    local part = chapter.attributes.group
    if part ~= '' and part ~= group then out:insert(part_page(part)) end
    group = part
    out:insert(raw('// chapter: ' .. chapter.attributes.path .. '\n#pagebreak(weak: true)'))
    out:extend(blocks)
  end
  doc.blocks = out
  return doc
end
