-- Quarto's cell options for the fallback renderer (Pandoc + Typst).
--
-- A notebook code cell that starts with option lines such as
--
--   #| label: tbl-age-band
--   #| tbl-cap: "Age of children at the start of their plan"
--
-- (or `label: fig-...` with `fig-cap:` and `fig-alt:`) gives its output the label and caption, as
-- Quarto does: the first table of the cell's outputs becomes table `tbl-...` with that caption, the
-- first image becomes figure `fig-...`. Numbering and `@tbl-...` references are then the
-- renderer's, as for a caption written in an output. An image that carries its own `fig-alt`
-- (a description that depends on the data) keeps it; otherwise the cell's `fig-alt` is used.
-- Run on the Markdown read from an executed notebook (Pandoc's ipynb reader: a code cell is a
-- Div of classes `cell code` holding the source CodeBlock and one Div per output).

local function cell_options(source)
  local lines = {}
  for line in (source .. "\n"):gmatch("(.-)\n") do
    local opt = line:match("^#|%s?(.*)$")
    if not opt then break end
    lines[#lines + 1] = opt
  end
  if #lines == 0 then return nil end
  local meta = pandoc.read("---\n" .. table.concat(lines, "\n") .. "\n---\n", "markdown").meta
  local opts = {}
  for k, v in pairs(meta) do
    opts[k] = v
  end
  return opts
end

local function text(value)
  if value == nil then return nil end
  return pandoc.utils.stringify(value)
end

local function caption_blocks(value)
  -- A caption from YAML is already Markdown, read as inlines (MetaInlines).
  if pandoc.utils.type(value) == "Inlines" then return {pandoc.Plain(value)} end
  if pandoc.utils.type(value) == "Blocks" then return value end
  return {pandoc.Plain(pandoc.read(text(value), "markdown").blocks[1].content)}
end

local function label_table(outputs, label, cap)
  local done = false
  local result = outputs:walk({
    Table = function(tbl)
      if done then return nil end
      done = true
      tbl.identifier = label
      if cap then tbl.caption = {long = caption_blocks(cap)} end
      return tbl
    end,
  })
  return result
end

local function label_figure(outputs, label, cap, alt)
  local done = false
  local function figure(img)
    done = true
    if alt and not img.attributes["fig-alt"] then img.attributes["fig-alt"] = alt end
    local long = cap and caption_blocks(cap) or {}
    if #img.caption == 0 and long[1] then img.caption = long[1].content end
    return pandoc.Figure({pandoc.Plain({img})}, {long = long}, pandoc.Attr(label))
  end
  return outputs:walk({
    Figure = function(fig)  -- an image that is a paragraph of its own with alt text
      if done then return nil end
      local img = nil
      fig:walk({Image = function(i) img = img or i end})
      if img then return figure(img) end
    end,
    Para = function(para)  -- an image alone in a paragraph, no alt text
      if done or #para.content ~= 1 or para.content[1].t ~= "Image" then return nil end
      return figure(para.content[1])
    end,
  })
end

function Div(div)
  if not (div.classes:includes("cell") and div.classes:includes("code")) then return nil end
  local source = div.content[1]
  if not source or source.t ~= "CodeBlock" then return nil end
  local opts = cell_options(source.text)
  if not opts or not opts.label then return nil end
  local label = text(opts.label)
  if label:match("^tbl%-") then
    div.content = label_table(div.content, label, opts["tbl-cap"])
  elseif label:match("^fig%-") then
    div.content = label_figure(div.content, label, opts["fig-cap"], text(opts["fig-alt"]))
  end
  return div
end
