-- One chapter as an HTML page body (Pandoc + Typst fallback renderer, see render.py).
--
-- The document is a chapter prepared by chapter.lua; render.py adds the metadata field
-- `cinreport-links`, a JSON string: {page, targets = {id: [kind, number, page]} for the ids the chapter
-- cites, pages = {link as written: page} for its links to other chapters}. The filter
--   * turns @fig-x/@tbl-x/@sec-x references into links ("Figure 3.2") to their page;
--   * points links to other chapter files at their pages;
--   * puts each table in a keyboard-focusable region named by its caption (or, without one, by the
--     section it is in), so a table wider than the page scrolls inside it (WCAG 2.1.1);
--   * gives the page's contents (its headings of levels 2 and 3) as the metadata `page-toc`.

local SCHEME = '^%a[%w+.-]*:'

local function text(x)
  return (pandoc.utils.stringify(x):gsub('%s+', ' '):gsub('^ ', ''):gsub(' $', ''))
end

local function headers(blocks, found)
  for _, b in ipairs(blocks) do
    if b.t == 'Header' then
      if b.level >= 2 and b.level <= 3 and b.identifier ~= '' then found:insert(b) end
    elseif b.t == 'Div' then
      headers(b.content, found)
    end
  end
  return found
end

function Pandoc(doc)
  local ctx = pandoc.json.decode(doc.meta['cinreport-links'], false)
  doc.meta['cinreport-links'] = nil
  local blocks = doc.blocks:walk{
    Cite = function(cite)
      local inlines = pandoc.Inlines{}
      for i, citation in ipairs(cite.citations) do
        local target = ctx.targets[citation.id]
        if not target then return nil end
        if i > 1 then inlines:extend{pandoc.Str(','), pandoc.Space()} end
        local href = (target[3] == ctx.page and '' or target[3]) .. '#' .. citation.id
        inlines:insert(pandoc.Link(pandoc.Inlines(target[1] .. ' ' .. target[2]), href, '', {class = 'quarto-xref'}))
      end
      return pandoc.Span(inlines)
    end,
    Link = function(link)
      if link.target:match(SCHEME) or link.target:sub(1, 1) == '#' then return nil end
      local file, fragment = link.target:match('^([^#]*)#?(.*)$')
      local page = ctx.pages[file]
      if not page then return nil end
      link.target = page .. (fragment ~= '' and '#' .. fragment or '')
      return link
    end,
  }
  local toc = headers(blocks, pandoc.Blocks{})
  local section, used = 'Table', {}
  blocks = blocks:walk{traverse = 'topdown',
    Header = function(h) section = 'Table in ' .. text(h.content) end,
    Table = function(tbl)
      local base = text(tbl.caption.long)
      if base == '' then base = section end
      local label, k = base, 2
      while used[label] do label, k = base .. ' (' .. k .. ')', k + 1 end
      used[label] = true
      local attr = pandoc.Attr('', {'table-wrap'}, {{'role', 'region'}, {'tabindex', '0'}, {'aria-label', label}})
      return pandoc.Div(tbl, attr), false
    end,
  }
  if #toc > 0 then
    doc.meta['page-toc'] = pandoc.MetaBlocks{pandoc.structure.table_of_contents(toc, {toc_depth = 3})}
  end
  doc.blocks = blocks
  return doc
end
